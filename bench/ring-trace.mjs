#!/usr/bin/env node
// Runs a command under the batched eBPF loader, as the backend will (the command stopped until the
// probes are in, records through lib/bpf/ring-reader.ts), for the benchmarks until trace-run has the
// backend: records to stdout as NDJSON, and at the end one JSON line on stderr (records, lost, start-up).
// Usage: node bench/ring-trace.mjs [--raw FILE] [--quiet] -- COMMAND [ARGS...]   (root; npm run build first)
import { accessSync, constants, createWriteStream } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const { launchStopped, release, startLoader } = await import(here + "../dist/lib/bpf/start.js");
const { RingReader } = await import(here + "../dist/lib/bpf/ring-reader.js");

const args = process.argv.slice(2);
let raw, quiet = false, count = false;
while (args.length && args[0] !== "--") {
  const a = args.shift();
  if (a === "--raw") raw = createWriteStream(args.shift());
  else if (a === "--quiet") quiet = true;
  // the frames are read from the pipe and counted, not decoded: the floor of what a reader costs
  else if (a === "--count-only") { count = true; quiet = true; }
  else throw new Error(`unknown option ${a}`);
}
args.shift();
const t0 = performance.now();
// the program found on PATH, as trace-run finds it (the launcher then execs it, not a PATH walk)
const path = args[0].includes("/") ? args[0] : (process.env.PATH ?? "/usr/bin:/bin").split(":").map((d) => d + "/" + args[0])
  .find((f) => { try { accessSync(f, constants.X_OK); return true; } catch { return false; } });
const child = await launchStopped(args, { stdio: ["ignore", "inherit", "inherit"], path });
const t1 = performance.now();
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
const loader = startLoader({ tree: child.pid, cwd: process.cwd() }, { onData: (c) => { raw?.write(c); if (count) bytes += c.length; else reader.chunk(c); } });
await loader.ready;
const t2 = performance.now();
release(child);
const status = await new Promise((r) => child.on("close", (code, sig) => r(code ?? 128)));
await new Promise((r) => { const t = setInterval(() => { if (reader.livePids().length === 0) { clearInterval(t); r(); } }, 10); });
loader.stop();
await loader.done;
reader.end();
flush();
await new Promise((r) => (raw ? raw.end(r) : r()));
process.stderr.write(JSON.stringify({ records: reader.counts.records, frames: reader.counts.lines, lost: reader.lost, lostKinds: reader.lostKinds,
  unparsed: reader.counts.unparsed, stoppedMs: Math.round(t1 - t0), readyMs: Math.round(t2 - t1) }) + "\n");
process.exitCode = status;
