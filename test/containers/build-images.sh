#!/usr/bin/env bash
# Builds the tiny local images the container tests use, with no registry: a root file system made
# from Debian's busybox-static, imported with `docker import` (and `podman import` where podman is
# installed). Idempotent.
#   leastpriv-test:1  runs /app/run.sh: reads /data/secret.txt
#   leastpriv-test:2  the same, and also opens a TCP connection (to 127.0.0.1:9)
set -euo pipefail
busybox=$(command -v busybox || echo /bin/busybox)
[ -x "$busybox" ] || { echo "build-images.sh: busybox-static is needed (apt-get install busybox-static)" >&2; exit 1; }
for v in 1 2; do
  need=()
  docker image inspect "leastpriv-test:$v" >/dev/null 2>&1 || need+=(docker)
  if command -v podman >/dev/null; then podman image exists "leastpriv-test:$v" || need+=(podman); fi
  [ ${#need[@]} -gt 0 ] || continue
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/data" "$root/app" "$root/etc" "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  for c in sh cat ls echo nc sleep true; do ln -s busybox "$root/bin/$c"; done
  echo "for the container only" >"$root/data/secret.txt"
  if [ "$v" = 1 ]; then
    printf '#!/bin/sh\ncat /data/secret.txt\n' >"$root/app/run.sh"
  else
    printf '#!/bin/sh\ncat /data/secret.txt\necho hello | nc -w 1 127.0.0.1 9 || true\n' >"$root/app/run.sh"
  fi
  chmod +x "$root/app/run.sh"
  for engine in "${need[@]}"; do
    quiet=(); [ "$engine" = podman ] && quiet=(--quiet)     # no progress lines
    tar -C "$root" -c . | "$engine" import "${quiet[@]}" -c 'CMD ["/app/run.sh"]' - "leastpriv-test:$v" >/dev/null
  done
  rm -rf "$root"
done
