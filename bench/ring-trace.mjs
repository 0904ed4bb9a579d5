#!/usr/bin/env node
// Runs a command under the batched eBPF loader, as the backend will (the command stopped until the
// probes are in, records through lib/bpf/ring-reader.ts), for the benchmarks until trace-run has the
// backend: records to stdout as NDJSON, and at the end one JSON line on stderr (records, lost, start-up).
// With --new-cgroups the loader traces every cgroup made from now on (mode 3, as for `docker run`) and
// the command itself runs untraced.
// Usage: node bench/ring-trace.mjs [--raw FILE] [--quiet] [--count-only] [--new-cgroups] [--stats] -- COMMAND [ARGS...]
//   (root; npm run build first)
import { accessSync, constants, createWriteStream } from "node:fs";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const { startLoader } = await import(here + "../dist/lib/bpf/start.js");
const { launchStopped, release } = await import(here + "../dist/lib/run/stopped.js");
const { RingReader } = await import(here + "../dist/lib/bpf/ring-reader.js");

const args = process.argv.slice(2);
let raw, quiet = false, count = false, cgroups = false, stats = false;
const probes = {};
while (args.length && args[0] !== "--") {
  const a = args.shift();
  if (a === "--raw") raw = createWriteStream(args.shift());
  else if (a === "--quiet") quiet = true;
  else if (a === "--new-cgroups") cgroups = true;
  // the kernel side's own time: runs and nanoseconds per probe (the kernel's BPF statistics)
  else if (a === "--stats") stats = true;
  // the frames are read from the pipe and counted, not decoded: the floor of what a reader costs
  else if (a === "--count-only") { count = true; quiet = true; }
  else throw new Error(`unknown option ${a}`);
}
args.shift();
const t0 = performance.now();
// the program found on PATH, as trace-run finds it (the launcher then execs it, not a PATH walk)
const path = args[0].includes("/") ? args[0] : (process.env.PATH ?? "/usr/bin:/bin").split(":").map((d) => d + "/" + args[0])
  .find((f) => { try { accessSync(f, constants.X_OK); return true; } catch { return false; } });
let out = [];
let bytes = 0;
let outBytes = 0;
const flush = () => { if (out.length) process.stdout.write(out.join("")); out = []; outBytes = 0; };
const reader = new RingReader((r) => {
  if (quiet) return;
  const s = JSON.stringify(r) + "\n";
  out.push(s); outBytes += s.length;
  if (outBytes > 1 << 20) flush();
}, { cwd: process.cwd() });
const onStderr = (l) => { const m = /^leastpriv-bpf: stats (\S+) (\d+) (\d+)$/.exec(l); if (m) probes[m[1]] = { runs: Number(m[2]), ns: Number(m[3]) }; };
const onData = (c) => { raw?.write(c); if (count) bytes += c.length; else reader.chunk(c); };
let child, t1, t2;
if (cgroups) {
  t1 = performance.now();
  const loader = startLoader({ newCgroups: true }, { onData, onStderr, stats });
  await loader.ready;
  t2 = performance.now();
  child = spawn(path, args.slice(1), { stdio: ["ignore", "inherit", "inherit"], argv0: args[0] });
  var status = await new Promise((r) => child.on("close", (code) => r(code ?? 128)));
  loader.stop();
  await loader.done;
} else {
  child = await launchStopped(args, { stdio: ["ignore", "inherit", "inherit"], path });
  t1 = performance.now();
  const loader = startLoader({ tree: child.pid, cwd: process.cwd() }, { onData, onStderr, stats });
  await loader.ready;
  t2 = performance.now();
  release(child);
  var status = await new Promise((r) => child.on("close", (code) => r(code ?? 128)));
  await new Promise((r) => { const t = setInterval(() => { if (reader.livePids().length === 0) { clearInterval(t); r(); } }, 10); });
  loader.stop();
  await loader.done;
}
reader.end();
flush();
await new Promise((r) => (raw ? raw.end(r) : r()));
process.stderr.write(JSON.stringify({ records: reader.counts.records, frames: reader.counts.lines, lost: reader.lost, lostKinds: reader.lostKinds,
  unparsed: reader.counts.unparsed, ...(stats ? { probes } : {}), stoppedMs: Math.round(t1 - t0), readyMs: Math.round(t2 - t1) }) + "\n");
process.exitCode = status;
