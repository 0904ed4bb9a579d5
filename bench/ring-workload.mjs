#!/usr/bin/env node
// What each way of tracing costs the traced program, in one run per workload: untraced, under
// trace-run's ebpf backend (records written, through `tail`), under the batched eBPF loader alone
// (bench/ring-trace.mjs: records made, not written; for the container job the cgroups made from now
// on, as the backend traces `docker run`), and under trace-run's bpftrace and strace backends.
// Workloads: find (`find /usr -name '*.h'` four times; also bpftrace with map-batched output, the
// alternative the issue names: a floor for that design, whose map loses what it cannot hold), short
// (300 short programs), python (20 start-ups of the system's Python, not a version manager's shim),
// container (a small docker run job), true (`true`: the whole run's wall time, start-up included).
// Each workload times itself (bash's `time` inside whatever traces it), so the figure is the
// program's own time; whole runs are shown apart. Targets, for trace-run --backend ebpf: find <= 1.5x
// untraced, short, python and container <= 1.15x, true <= 0.6 s, lost 0.
// The ebpf backend's peak memory (GNU time's: the larger of trace-run's and its loader's, which holds
// what trace-run has not yet read) is the most of its runs.
// Needs root, strace, bpftrace, docker (container), GNU time and npm run build.
// Usage: node bench/ring-workload.mjs [--runs N] [--ebpf-only] [WORKLOAD...]   (default: all; RUNS of
//   untraced, trace-run's ebpf backend and the loader alone, interleaved, median; one of strace and
//   bpftrace)
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const traceRun = here + "../dist/commands/trace-run.js";
const argv = process.argv.slice(2);
let runs = 5, ebpfOnly = false;
const picked = [];
while (argv.length) {
  const a = argv.shift();
  if (a === "--runs") runs = Number(argv.shift());
  else if (a === "--ebpf-only") ebpfOnly = true;
  else picked.push(a);
}
mkdirSync(here + "out", { recursive: true });
const RSS = here + "out/trace-run.rss";
const WORKLOADS = {
  find: { script: "for i in 1 2 3 4; do find /usr -name '*.h' > /dev/null; done", target: 1.5 },
  short: { script: "for i in $(seq 100); do /bin/true; ls / > /dev/null; cat /etc/hostname > /dev/null; done", target: 1.15 },
  python: { script: "for i in $(seq 20); do /usr/bin/python3 -c 'import os, json; os.stat(\"/etc/passwd\")'; done", target: 1.15 },
  container: { script: "docker run --rm leastpriv-test:2 sh -c 'ls -R /bin > /dev/null; cat /etc/hostname > /dev/null'", target: 1.15, cgroups: true },
  true: { script: "true", wall: 0.6 },
};
const names = picked.length ? picked : Object.keys(WORKLOADS);
for (const n of names) if (!WORKLOADS[n]) throw new Error(`no workload ${n}: ${Object.keys(WORKLOADS).join(", ")}`);
let script;
const BATCHED = `tracepoint:sched:sched_process_fork /@t[tid]/ { @t[args->child_pid] = 1; }
tracepoint:raw_syscalls:sys_exit /@t[tid]/ { @ev[tid, nsecs] = (args->id, args->ret); }
interval:ms:100 { print(@ev); clear(@ev); }
BEGIN { @t[$1] = 1; }
END { clear(@t); }`;
writeFileSync(here + "out/batched.bt", BATCHED);

/** Runs bash timing the script (under `prefix`); the script's own seconds, the whole run's, and what the tracer said. */
function once(prefix, kind) {
  const work = `TIMEFORMAT=%3R; time { ${script}; }`;
  const inner = [...prefix, "bash", "--norc", "--noprofile", "-c", '"$WORK"'].join(" ");
  // trace-run's records go through tail: only the end record is kept
  const argv = ["sh", "-c", kind === "trace-run" ? `${inner} | tail -n 1` : inner];
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 26, encoding: "utf8", env: { ...process.env, WORK: work } });
  const whole = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: exit ${r.status}: ${r.stderr.slice(-500)}`);
  const err = r.stderr.trim().split("\n");
  let lost = 0, records = 0;
  // bash's time is the last number said (trace-run may say a line of its own after it)
  const own = Number(err.findLast((l) => /^\d+\.\d+$/.test(l)));
  if (kind === "ring") {
    const s = JSON.parse(err.at(-1));
    lost = s.lost; records = s.records;
  } else {
    if (kind === "trace-run") {
      const end = JSON.parse(r.stdout.trim());
      lost = end.lost ?? 0; records = end.records;
    }
  }
  // the peak memory of trace-run or of its loader, the larger (GNU time's, in its prefix)
  const rss = kind === "trace-run" && prefix[0] === "/usr/bin/time" ? Number(readFileSync(RSS, "utf8").trim()) / 1024 : undefined;
  return { own, whole, lost, records, rss };
}

/** bpftrace with map-batched output, on a shell that stops itself until the probes are in. */
function batched() {
  const dir = here + "out/";
  writeFileSync(dir + "batched.sh", `work="TIMEFORMAT=%3R; kill -STOP \\$\\$; time { ${script}; }"
bash --norc --noprofile -c "$work" 2> ${dir}batched.time & p=$!
bpftrace ${dir}batched.bt $p > ${dir}batched.out 2>&1 & b=$!
# BEGIN has run once the first (empty) interval print is there
for i in $(seq 1200); do [ -s ${dir}batched.out ] && break; sleep 0.05; done
kill -CONT $p; wait $p; sleep 0.3; kill -INT $b; wait $b
tail -n 1 ${dir}batched.time
`);
  const t = process.hrtime.bigint();
  const r = spawnSync("bash", [dir + "batched.sh"], { encoding: "utf8", maxBuffer: 1 << 26 });
  const whole = Number(process.hrtime.bigint() - t) / 1e9;
  const own = Number(r.stdout.trim().split("\n").at(-1));
  const out = spawnSync("grep", ["-c", "^@ev\\[", dir + "batched.out"], { encoding: "utf8" });
  return { own, whole, lost: NaN, records: Number(out.stdout.trim()) };
}

const median = (xs, key = "own") => xs.sort((a, b) => a[key] - b[key])[Math.floor(xs.length / 2)];
const results = {};
let failed = false;
for (const name of names) {
  const w = WORKLOADS[name];
  script = w.script;
  const ringPrefix = [process.execPath, here + "ring-trace.mjs", "--quiet", ...(w.cgroups ? ["--new-cgroups"] : []), "--"];
  const ebpfPrefix = ["/usr/bin/time", "-f", "%M", "-o", RSS, process.execPath, traceRun, "--backend", "ebpf", "--"];
  // the floor of any reader: the loader's frames read from the pipe and counted, not decoded
  const countPrefix = [process.execPath, here + "ring-trace.mjs", "--count-only", ...(w.cgroups ? ["--new-cgroups"] : []), "--"];
  const untracedRuns = [], ebpfRuns = [], ringRuns = [], countRuns = [];
  // interleaved, so that a busy moment of the machine falls on each
  for (let i = 0; i < runs; i++) {
    untracedRuns.push(once([], "none"));
    ebpfRuns.push(once(ebpfPrefix, "trace-run"));
    ringRuns.push(once(ringPrefix, "ring"));
    // (frames not decoded: what was lost is not known here)
    countRuns.push({ ...once(countPrefix, "ring"), lost: NaN, records: 0 });
  }
  const key = w.wall ? "whole" : "own";
  // (each run's own time, in the order they ran)
  const each = { untraced: untracedRuns.map((x) => x[key]), ebpf: ebpfRuns.map((x) => x[key]), ring: ringRuns.map((x) => x[key]), count: countRuns.map((x) => x[key]) };
  const untraced = median(untracedRuns, key), ebpf = median(ebpfRuns, key), ring = median(ringRuns, key), count = median(countRuns, key);
  // (memory: the most of any run)
  ebpf.rss = Math.max(...ebpfRuns.map((x) => x.rss));
  const r = { script, runs, untraced, ebpf, ring, count, each };
  if (!ebpfOnly) {
    r.bpftrace = once([process.execPath, traceRun, "--backend", "bpftrace", "--"], "trace-run");
    r.strace = once([process.execPath, traceRun, "--backend", "strace", "--"], "trace-run");
    if (name === "find") r.batched = batched();
  }
  const line = (label, x) => w.wall
    ? `  ${label.padEnd(26)} whole run ${x.whole.toFixed(3)} s` + (Number.isNaN(x.lost) ? "" : `  lost ${x.lost}`)
    : `  ${label.padEnd(26)} ${x.own.toFixed(3)} s  ${(x.own / untraced.own).toFixed(2)}x  whole run ${x.whole.toFixed(2)} s` +
      (x.records ? `  records ${x.records}` : "") + (Number.isNaN(x.lost) ? "" : `  lost ${x.lost}`) + (x.rss ? `  peak ${x.rss.toFixed(0)} MB` : "");
  console.log(`${name}: ${script}  (median of ${runs} for untraced and eBPF${ebpfOnly ? "" : "; one run of the others"})`);
  console.log(line("untraced", untraced));
  console.log(line(`ebpf backend (target ${w.wall ? w.wall + " s" : w.target + "x"})`, ebpf));
  console.log(line("eBPF loader, not written", ring));
  console.log(line("eBPF loader, frames counted", count));
  if (r.bpftrace) console.log(line("bpftrace backend", r.bpftrace));
  if (r.strace) console.log(line("strace backend", r.strace));
  if (r.batched) console.log(line("bpftrace, map-batched", r.batched));
  results[name] = r;
  if ((w.wall ? ebpf.whole > w.wall : ebpf.own / untraced.own > w.target) || ebpf.lost > 0 || ring.lost > 0) failed = true;
}
writeFileSync(here + "out/ring-workload.json", JSON.stringify(results, null, 2) + "\n");
if (failed) process.exitCode = 1;
