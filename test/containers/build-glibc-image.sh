#!/usr/bin/env bash
# Builds leastpriv-glibc:1, a realistic glibc-based test image: a Debian root made with debootstrap
# (minbase, with python3 and iproute2: dash, coreutils, merged /usr) and the job in glibc/ as
# /app/job.sh; and leastpriv-glibc:2, its next version, which also sends its report to a collector
# at 127.0.0.1:9 (REPORT_TO). Imported into docker (and podman where installed). Idempotent and cached: the root's
# tarball is kept outside the repository, keyed by its recipe (suite, architecture, packages, what is
# left out); the image carries a label keyed by the recipe, this script and the job's files, and is
# imported again only when that key changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
images=(leastpriv-glibc:1 leastpriv-glibc:2)
cache=${LEASTPRIV_TEST_CACHE:-/var/cache/leastpriv-test}
. /etc/os-release
suite=${VERSION_CODENAME:-bookworm}
arch=$(dpkg --print-architecture)
include=python3,iproute2
# what a slim image leaves out: downloaded packages, package lists, documentation, translations
slim="var/cache/apt var/lib/apt/lists usr/share/doc usr/share/man usr/share/info usr/share/locale"
base_key=$(echo "debootstrap minbase $include $suite $arch; emptied: $slim" | sha256sum | cut -c1-16)
image_key=$( { echo "$base_key"; cat "$0"; cd "$here/glibc" && find . -type f | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-16)

# the engines where an image is missing or was built from other files
stale() {
  engines=()
  local d=ok p=ok image
  for image in "${images[@]}"; do
    [ "$(docker image inspect -f '{{index .Config.Labels "leastpriv.build"}}' "$image" 2>/dev/null)" = "$image_key" ] || d=stale
    if command -v podman >/dev/null; then
      [ "$(podman image inspect --format '{{index .Labels "leastpriv.build"}}' "$image" 2>/dev/null)" = "$image_key" ] || p=stale
    fi
  done
  [ $d = ok ] || engines+=(docker)
  [ $p = ok ] || engines+=(podman)
  [ ${#engines[@]} -gt 0 ]
}
stale || exit 0
mkdir -p "$cache"
# the tests call this from several files at once: one builder at a time, the others wait for it and
# find its work done
exec 9>"$cache/glibc.lock"
flock 9
stale || exit 0
rm -rf "$cache"/root.* "$cache"/image.*      # a build that died: only the lock's holder makes them
base=$cache/glibc-base-$base_key.tar
if [ ! -s "$base" ]; then
  command -v debootstrap >/dev/null || { echo "build-glibc-image.sh: debootstrap is needed (apt-get install debootstrap)" >&2; exit 1; }
  # the mirror apt uses here (deb822 or one-line sources), else Debian's
  mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  [ -n "$mirror" ] || mirror=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\(http[^[:space:]]*\).*/\2/p' /etc/apt/sources.list 2>/dev/null | head -1)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  root=$(mktemp -d "$cache/root.XXXXXX")
  trap 'rm -rf "$root" "$base.new"' EXIT
  if ! debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
    echo "build-glibc-image.sh: debootstrap $suite from $mirror failed:" >&2; tail -5 "$root.log" >&2; rm -f "$root.log"; exit 1
  fi
  rm -f "$root.log"
  for d in $slim; do [ ! -d "$root/$d" ] || find "$root/$d" -mindepth 1 -delete; done
  tar -C "$root" --numeric-owner -cf "$base.new" .
  mv "$base.new" "$base"
  rm -rf "$root"
  trap - EXIT
  for old in "$cache"/glibc-base-*.tar; do [ "$old" = "$base" ] || rm -f "$old"; done
fi

# the base and the job, as one layer
tar=$(mktemp "$cache/image.XXXXXX")
trap 'rm -f "$tar"' EXIT
cp "$base" "$tar"
tar -C "$here/glibc" --owner=0 --group=0 --transform 's,^\.,./app,' -rf "$tar" .
for engine in "${engines[@]}"; do
  quiet=(); [ "$engine" = podman ] && quiet=(--quiet)     # no progress lines
  "$engine" import "${quiet[@]}" -c 'CMD ["/app/job.sh"]' -c "LABEL leastpriv.build=$image_key" "$tar" leastpriv-glibc:1 >/dev/null
  "$engine" import "${quiet[@]}" -c 'CMD ["/app/job.sh"]' -c 'ENV REPORT_TO=127.0.0.1:9' -c "LABEL leastpriv.build=$image_key" \
    "$tar" leastpriv-glibc:2 >/dev/null
done
