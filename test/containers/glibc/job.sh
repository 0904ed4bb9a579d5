#!/bin/sh
# leastpriv-glibc:1's job, as a batch container runs one: many short-lived programs, a Python step
# that keeps its work in temporary files, and a look at the network interfaces.
set -eu
mkdir -p /data/out
for i in $(seq 30); do ls / >/dev/null; done
python3 /app/step.py /data/out
ip -o link show >/dev/null
cat /data/out/report.txt
