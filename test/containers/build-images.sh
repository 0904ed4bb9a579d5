#!/usr/bin/env bash
# Builds the tiny local images the container tests use, with no registry: a root file system made
# from Debian's busybox-static, imported with `docker import` (and `podman import` where podman is
# installed). Idempotent.
#   leastpriv-test:1  runs /app/run.sh: reads /data/secret.txt
#   leastpriv-test:2  the same, and also opens a TCP connection (to 127.0.0.1:9)
#   leastpriv-test:runc-init  a program named like the runtime (CMD /runc-init): reads /data/secret.txt,
#                     creates /etc/marker
#   leastpriv-glibc:1 a Debian root whose job forks and execs in a loop, runs Python with temporary
#                     files and opens netlink sockets; :2 also tries to send its report over TCP
#                     (build-glibc-image.sh: debootstrap, cached)
set -euo pipefail
bash "$(dirname "$0")/build-glibc-image.sh"
busybox=$(command -v busybox || echo /bin/busybox)
[ -x "$busybox" ] || { echo "build-images.sh: busybox-static is needed (apt-get install busybox-static)" >&2; exit 1; }
for v in 1 2 runc-init; do
  need=()
  docker image inspect "leastpriv-test:$v" >/dev/null 2>&1 || need+=(docker)
  if command -v podman >/dev/null; then podman image exists "leastpriv-test:$v" || need+=(podman); fi
  [ ${#need[@]} -gt 0 ] || continue
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/data" "$root/app" "$root/etc" "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  for c in sh cat ls echo nc sleep true; do ln -s busybox "$root/bin/$c"; done
  echo "for the container only" >"$root/data/secret.txt"
  cmd=/app/run.sh
  if [ "$v" = 1 ]; then
    printf '#!/bin/sh\ncat /data/secret.txt\n' >"$root/app/run.sh"
  elif [ "$v" = runc-init ]; then
    cmd=/runc-init
    printf '#!/bin/sh\ncat /data/secret.txt\necho made >/etc/marker\n' >"$root/runc-init"
    chmod +x "$root/runc-init"
  else
    printf '#!/bin/sh\ncat /data/secret.txt\necho hello | nc -w 1 127.0.0.1 9 || true\n' >"$root/app/run.sh"
  fi
  [ ! -e "$root/app/run.sh" ] || chmod +x "$root/app/run.sh"
  for engine in "${need[@]}"; do
    quiet=(); [ "$engine" = podman ] && quiet=(--quiet)     # no progress lines
    tar -C "$root" -c . | "$engine" import "${quiet[@]}" -c "CMD [\"$cmd\"]" - "leastpriv-test:$v" >/dev/null
  done
  rm -rf "$root"
done

# leastpriv-glibc-loop:1  a glibc-based image made from the host's own sh, ls and seq (and the
# libraries ldd names), for the container scope's test: a shell that forks and execs in a loop
glibc_need=()
docker image inspect leastpriv-glibc-loop:1 >/dev/null 2>&1 || glibc_need+=(docker)
if command -v podman >/dev/null; then podman image exists leastpriv-glibc-loop:1 || glibc_need+=(podman); fi
if [ ${#glibc_need[@]} -gt 0 ]; then
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  for c in sh ls seq; do
    bin=$(readlink -f "$(command -v "$c")")
    cp "$bin" "$root/bin/$c"
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
  for engine in "${glibc_need[@]}"; do
    quiet=(); [ "$engine" = podman ] && quiet=(--quiet)
    tar -C "$root" -c . | "$engine" import "${quiet[@]}" -c 'CMD ["/bin/sh"]' - leastpriv-glibc-loop:1 >/dev/null
  done
  rm -rf "$root"
fi
