#!/usr/bin/env bash
# Makes the benchmark's strace log (not committed: it is large) by tracing a real workload that
# walks, stats, opens and reads files and runs many small programs:
#   strace -f -tt -T -yy -s 256 over find, tar, sh and git-free coreutils, repeated until the log
#   reaches the target size.
# Usage: bench/make-log.sh OUT [MIN_MB]   (default 200)
set -euo pipefail
out=$1; min=${2:-200}
rm -f "$out"
round=0
while :; do
  round=$((round + 1))
  strace -f -tt -T -yy -s 256 -o "$out.part" sh -c '
    find /usr/share /usr/lib -xdev -name "*.so*" -o -name "*.py" >/dev/null 2>&1
    tar cf - /usr/share/doc /usr/share/zoneinfo 2>/dev/null | wc -c >/dev/null
    for f in /usr/share/doc/*/copyright; do head -c 100 "$f" >/dev/null; done
  ' || true
  cat "$out.part" >>"$out"; rm -f "$out.part"
  size=$(( $(stat -c %s "$out") / 1048576 ))
  [ "$size" -ge "$min" ] && break
done
echo "$out: ${size} MB, $(wc -l <"$out") lines, $round rounds" >&2
