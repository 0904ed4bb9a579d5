#!/usr/bin/env node
// What tracing costs the traced program, per backend, in one run: the same syscall-heavy workloads
// untraced, under trace-run's strace backend and under its bpftrace backend (median of 5 each). The
// workload times itself (bash's `time` around it, inside whatever traces it), so the figure is the
// program's own run time: the tracers' start-up (bpftrace compiles and loads its program for about 1.6 s) and
// the reading of the records afterwards are left out, and shown apart as whole-run times.
// Target: bpftrace <= 1.3x untraced. Needs root, strace and bpftrace.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const traceRun = here + "../dist/commands/trace-run.js";
mkdirSync(here + "out", { recursive: true });
const workloads = {
  "find /usr/share /usr/lib": "find /usr/share /usr/lib -xdev > /dev/null",
  "300 programs from sh": "for i in $(seq 300); do cat /etc/hostname; done > /dev/null",
  "python imports": "for i in 1 2 3 4 5; do /usr/bin/python3 -c 'import json, email.mime.text, http.client, xml.dom.minidom'; done",
};

/** Runs bash timing `script` (under `prefix`); returns the script's own seconds and the whole run's. */
function once(prefix, script) {
  const argv = [...prefix, "bash", "--norc", "--noprofile", "-c", `TIMEFORMAT=%3R; time { ${script}; }`];
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 30, encoding: "utf8" });
  const whole = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: exit ${r.status}: ${r.stderr.slice(-500)}`);
  const own = Number(r.stderr.trim().split("\n").at(-1));
  let lost = 0, records = 0;
  if (prefix.length) {
    const end = JSON.parse(r.stdout.trim().split("\n").at(-1));
    lost = end.lost ?? 0;
    records = end.records;
  }
  return { own, whole, lost, records };
}

function median(f, n = 5) {
  const xs = Array.from({ length: n }, f).sort((a, b) => a.own - b.own);
  return xs[Math.floor(n / 2)];
}

const out = {};
for (const [name, script] of Object.entries(workloads)) {
  const untraced = median(() => once([], script));
  const strace = median(() => once([process.execPath, traceRun, "--backend", "strace", "--"], script));
  const bpf = median(() => once([process.execPath, traceRun, "--backend", "bpftrace", "--"], script));
  out[name] = {
    untraced: untraced.own, strace: strace.own, bpftrace: bpf.own,
    straceRatio: strace.own / untraced.own, bpftraceRatio: bpf.own / untraced.own,
    wholeRun: { strace: strace.whole, bpftrace: bpf.whole }, records: { strace: strace.records, bpftrace: bpf.records }, lost: bpf.lost,
  };
  console.log(`${name.padEnd(26)} untraced ${untraced.own.toFixed(3)} s   strace ${strace.own.toFixed(3)} s (${(strace.own / untraced.own).toFixed(2)}x)   ` +
    `bpftrace ${bpf.own.toFixed(3)} s (${(bpf.own / untraced.own).toFixed(2)}x, target <= 1.30)   ` +
    `whole runs: strace ${strace.whole.toFixed(2)} s, bpftrace ${bpf.whole.toFixed(2)} s   records ${strace.records}/${bpf.records}, lost ${bpf.lost}`);
}
writeFileSync(here + "out/bpf.json", JSON.stringify(out, null, 2) + "\n");
