#!/usr/bin/env node
// What each way of tracing costs the traced program, in one run: `find /usr -name '*.h'` four times,
// untraced, under the batched eBPF loader (bench/ring-trace.mjs: records made, not written), under
// trace-run's bpftrace and strace backends, and under the alternative the issue names: bpftrace with
// map-batched output (events kept in a map, printed every 100 ms; numbers only, no strings: a floor for
// that design, whose map loses what it cannot hold). The workload times itself (bash's `time`
// inside whatever traces it), so the figure is the program's own time; whole runs are shown apart.
// Target: the eBPF loader <= 1.5x untraced, lost 0. Needs root, strace and bpftrace; npm run build.
// Usage: node bench/ring-workload.mjs [RUNS]   (RUNS of the fast ones, median; one of strace and bpftrace)
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const traceRun = here + "../dist/commands/trace-run.js";
const runs = Number(process.argv[2] ?? 5);
mkdirSync(here + "out", { recursive: true });
const script = "for i in 1 2 3 4; do find /usr -name '*.h' > /dev/null; done";
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
  let lost = 0, records = 0, own;
  if (kind === "ring") {
    const s = JSON.parse(err.at(-1));
    own = Number(err.at(-2)); lost = s.lost; records = s.records;
  } else {
    own = Number(err.at(-1));
    if (kind === "trace-run") {
      const end = JSON.parse(r.stdout.trim());
      lost = end.lost ?? 0; records = end.records;
    }
  }
  return { own, whole, lost, records };
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

const median = (xs) => xs.sort((a, b) => a.own - b.own)[Math.floor(xs.length / 2)];
const untracedRuns = [], ringRuns = [];
// interleaved, so that a busy moment of the machine falls on both
for (let i = 0; i < runs; i++) {
  untracedRuns.push(once([], "none"));
  ringRuns.push(once([process.execPath, here + "ring-trace.mjs", "--quiet", "--"], "ring"));
}
const untraced = median(untracedRuns), ring = median(ringRuns);
const bpftrace = once([process.execPath, traceRun, "--backend", "bpftrace", "--"], "trace-run");
const strace = once([process.execPath, traceRun, "--"], "trace-run");
const alt = batched();
const line = (name, x) => `${name.padEnd(28)} ${x.own.toFixed(3)} s  ${(x.own / untraced.own).toFixed(2)}x  whole run ${x.whole.toFixed(2)} s` +
  (x.records ? `  records ${x.records}` : "") + (Number.isNaN(x.lost) ? "" : `  lost ${x.lost}`);
console.log(`${script}  (median of ${runs} for untraced and eBPF; one run of the others)`);
console.log(line("untraced", untraced));
console.log(line("eBPF loader (target 1.5x)", ring));
console.log(line("bpftrace backend", bpftrace));
console.log(line("strace backend", strace));
console.log(line("bpftrace, map-batched", alt));
writeFileSync(here + "out/ring-workload.json", JSON.stringify({ script, runs, untraced, ring, bpftrace, strace, batched: alt }, null, 2) + "\n");
if (ring.own / untraced.own > 1.5 || ring.lost > 0) process.exitCode = 1;
