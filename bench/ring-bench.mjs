#!/usr/bin/env node
// The batched eBPF reader's speed: the loader's frames from a real run (`find /usr -name '*.h'`,
// captured with bench/ring-trace.mjs --raw; made here when no file is given, which needs root) decoded
// into records by lib/bpf/ring-reader.ts, in 64 KiB chunks as a pipe gives them. Best of 5.
// Target: at least 500,000 events/s to records (trace-run's JSON writing not included).
// Usage: node bench/ring-bench.mjs [FRAMES-FILE]
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const { RingReader } = await import(here + "../dist/lib/bpf/ring-reader.js");
let file = process.argv[2];
if (!file) {
  mkdirSync(here + "out", { recursive: true });
  file = here + "out/find-usr.frames";
  const r = spawnSync(process.execPath, [here + "ring-trace.mjs", "--quiet", "--raw", file, "--", "find", "/usr", "-name", "*.h"], { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`capturing the frames failed (exit ${r.status}): the loader needs root and npm run build`);
}
const data = readFileSync(file);
const CHUNK = 65536;
let best = Infinity, records = 0, frames = 0, lost = 0;
for (let round = 0; round < 5; round++) {
  let n = 0;
  const reader = new RingReader(() => { n++; }, { cwd: "/" });
  const t = process.hrtime.bigint();
  for (let at = 0; at < data.length; at += CHUNK) reader.chunk(data.subarray(at, at + CHUNK));
  reader.end();
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (s < best) best = s;
  records = n; frames = reader.counts.lines; lost = reader.lost;
}
const rate = Math.round(records / best);
console.log(`ring reader: ${frames} frames (${(data.length / 1e6).toFixed(1)} MB) to ${records} records in ${best.toFixed(3)} s: ${rate.toLocaleString("en")} events/s (target 500,000), lost ${lost}`);
if (rate < 500000) process.exitCode = 1;
