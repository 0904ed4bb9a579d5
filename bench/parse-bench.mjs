#!/usr/bin/env node
// Benchmark of trace-parse against its two baselines, all measured in the same run on the same log:
// the naive Node parser (naive.mjs) and a mawk field extraction (extract.awk). Wall time is the median
// of 3 runs; peak RSS comes from GNU time. The log is made by make-log.sh (>= 200 MB) unless LOG
// names one. Results go to stdout and bench/out/parse.json.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = here + "../";
mkdirSync(here + "out", { recursive: true });
const log = process.env.LOG ?? here + "out/bench.strace";
if (!existsSync(log)) execFileSync("bash", [here + "make-log.sh", log, "200"], { stdio: "inherit" });
for (const tool of ["/usr/bin/time", "mawk"]) {
  if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
    console.error(`parse-bench: ${tool} is needed (apt-get install -y time mawk)`);
    process.exit(2);
  }
}
const mb = statSync(log).size / 1048576;

function measure(name, argv) {
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const r = spawnSync("/usr/bin/time", ["-f", "%e %M", ...argv], { stdio: ["ignore", "ignore", "pipe"], maxBuffer: 1 << 26 });
    const last = r.stderr.toString().trim().split("\n").at(-1);
    const [secs, kb] = last.split(" ").map(Number);
    if (r.status !== 0 || Number.isNaN(secs)) throw new Error(`${name} failed: ${r.stderr}`);
    runs.push({ secs, rssMB: kb / 1024 });
  }
  runs.sort((a, b) => a.secs - b.secs);
  const m = runs[1];
  return { name, secs: m.secs, mbPerSec: mb / m.secs, rssMB: Math.max(...runs.map((r) => r.rssMB)) };
}

const results = [
  measure("trace-parse", [process.execPath, root + "dist/commands/trace-parse.js", log]),
  measure("naive node (readline + regex + JSON)", [process.execPath, here + "naive.mjs", log]),
  measure("mawk extraction", ["mawk", "-f", here + "extract.awk", log]),
];
// the floor: serialising the records trace-parse writes (JSON.stringify, timed apart from reading
// them back), which any parser that writes these records pays
const recs = here + "out/bench.ndjson";
if (!existsSync(recs)) execFileSync("sh", ["-c", `node ${root}dist/commands/trace-parse.js ${log} > ${recs}`]);
const floor = JSON.parse(execFileSync(process.execPath, [here + "json-floor.mjs", "stringify", recs]).toString());
const tp = results[0];
const out = {
  log: { path: log, mb: Math.round(mb), lines: Number(execFileSync("wc", ["-l", log]).toString().split(" ")[0]) },
  node: process.version,
  results,
  ratios: { vsNaive: results[1].secs / tp.secs, vsMawk: results[2].secs / tp.secs },
  stringifyFloor: { secs: floor.secs, outputMB: Math.round(floor.bytes / 1048576), vsNaive: results[1].secs / floor.secs },
  targets: { vsNaive: ">= 2", vsMawk: "> 1", rssMB: "<= 150" },
};
writeFileSync(here + "out/parse.json", JSON.stringify(out, null, 2) + "\n");
console.log(`log: ${out.log.mb} MB, ${out.log.lines} lines (${log})`);
for (const r of results) console.log(`${r.name.padEnd(40)} ${r.secs.toFixed(2).padStart(7)} s ${r.mbPerSec.toFixed(1).padStart(7)} MB/s  peak RSS ${r.rssMB.toFixed(0).padStart(4)} MB`);
console.log(`JSON.stringify of the ${floor.records} records trace-parse writes (${out.stringifyFloor.outputMB} MB), alone: ${floor.secs.toFixed(2)} s, ` +
  `${out.stringifyFloor.vsNaive.toFixed(2)}x the naive parser's whole run (the 2x target needs trace-parse in ${(results[1].secs / 2).toFixed(2)} s)`);
console.log(`trace-parse speed: ${out.ratios.vsNaive.toFixed(2)}x the naive parser (target >= 2), ${out.ratios.vsMawk.toFixed(2)}x mawk (target > 1), peak RSS ${tp.rssMB.toFixed(0)} MB (target <= 150)`);
