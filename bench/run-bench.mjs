#!/usr/bin/env node
// Overhead of trace-run: a syscall-heavy workload (find over /usr, stat and getdents heavy, and a
// shell loop starting 300 programs) untraced, under bare strace with trace-run's own flags writing
// to /dev/null, and under trace-run writing records to /dev/null — in one run, median of 5.
import { spawnSync } from "node:child_process";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { straceFlags } from "../dist/lib/run/strace.js";

const here = fileURLToPath(new URL(".", import.meta.url));
mkdirSync(here + "out", { recursive: true });
const workloads = {
  "find /usr/share /usr/lib": ["find", "/usr/share", "/usr/lib", "-xdev"],
  "300 programs from sh": ["sh", "-c", "for i in $(seq 300); do cat /etc/hostname; done"],
};

function time(argv) {
  const devnull = openSync("/dev/null", "w");
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ["ignore", devnull, devnull] });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: exit ${r.status}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}
const median = (f, n = 5) => { const xs = Array.from({ length: n }, f).sort((a, b) => a - b); return xs[Math.floor(n / 2)]; };

const out = {};
for (const [name, cmd] of Object.entries(workloads)) {
  const untraced = median(() => time(cmd));
  const strace = median(() => time(["strace", ...straceFlags({ command: cmd }, "/dev/null"), "--", ...cmd]));
  const traceRun = median(() => time([process.execPath, here + "../dist/commands/trace-run.js", "--backend", "strace", "--stdout", "/dev/null", "--", ...cmd]));
  out[name] = { untraced, strace, traceRun, ratioVsStrace: traceRun / strace, ratioVsUntraced: traceRun / untraced };
  console.log(`${name.padEnd(28)} untraced ${untraced.toFixed(3)} s   strace ${strace.toFixed(3)} s   trace-run ${traceRun.toFixed(3)} s   ` +
    `trace-run/strace ${(traceRun / strace).toFixed(2)}x (target <= 1.10)   trace-run/untraced ${(traceRun / untraced).toFixed(1)}x`);
}
writeFileSync(here + "out/run.json", JSON.stringify(out, null, 2) + "\n");
