#!/usr/bin/env node
// Throughput of trace-filter and trace-summarize on the records of the trace-parse benchmark log, the
// whole pipeline trace-parse | trace-filter --files | trace-summarize with each stage's CPU time (the
// slowest stage is the one with the most), and summarize's memory on a tenth of the input and on all
// of it (it should follow distinct resources, not events).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, writeFileSync, openSync, closeSync, readSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const bin = (c) => here + "../dist/commands/" + c + ".js";
const log = process.env.LOG ?? here + "out/bench.strace";
const recs = here + "out/bench.ndjson";
if (!existsSync(log)) execFileSync("bash", [here + "make-log.sh", log, "200"], { stdio: "inherit" });
if (!existsSync(recs)) execFileSync("sh", ["-c", `node ${bin("trace-parse")} ${log} > ${recs}`]);
const lines = Number(execFileSync("wc", ["-l", recs]).toString().split(" ")[0]);

function timed(cmd) {
  const r = spawnSync("sh", ["-c", cmd], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(cmd + ": " + r.stderr);
  return r.stderr.trim().split("\n").map((l) => l.split(" ")).filter((f) => f.length >= 4);
}
const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const one = (name, cmd) => {
  const runs = [0, 1, 2].map(() => timed(`/usr/bin/time -f "stage %e %M %U" ${cmd} > /dev/null`)[0]);
  return { name, secs: med(runs.map((r) => Number(r[1]))), rssMB: Math.max(...runs.map((r) => Number(r[2]) / 1024)) };
};

const out = { records: lines };
out.filter = one("trace-filter --files", `node ${bin("trace-filter")} --files ${recs}`);
out.summarize = one("trace-summarize", `node ${bin("trace-summarize")} ${recs}`);
// the floor: every record read and JSON.parse'd and nothing else, which any tool that checks each
// record it reads pays; the 500,000 records/s target is above it when this is slower than lines/500,000 s
out.floor = one("read + JSON.parse only", `node ${here}json-floor.mjs parse ${recs}`);
for (const k of ["filter", "summarize", "floor"]) out[k].recordsPerSec = Math.round(lines / out[k].secs);

// memory against input size: a tenth of the records, then all of them
const tenth = here + "out/bench-tenth.ndjson";
execFileSync("sh", ["-c", `head -n ${Math.floor(lines / 10)} ${recs} > ${tenth}`]);
const res = (f) => Number(execFileSync("sh", ["-c", `node ${bin("trace-summarize")} ${f} | wc -l`]).toString()) - 1;
out.memory = {
  tenth: { ...one("summarize, 1/10 of the records", `node ${bin("trace-summarize")} ${tenth}`), resources: res(tenth) },
  all: { rssMB: out.summarize.rssMB, resources: res(recs) },
};

// the pipeline, with each stage's own times
const stages = timed(`/usr/bin/time -f "trace-parse %e %M %U %S" node ${bin("trace-parse")} ${log} | ` +
  `/usr/bin/time -f "trace-filter %e %M %U %S" node ${bin("trace-filter")} --files | ` +
  `/usr/bin/time -f "trace-summarize %e %M %U %S" node ${bin("trace-summarize")} > /dev/null`);
out.pipeline = stages.map(([name, wall, kb, user, sys]) => ({ name, wall: Number(wall), cpu: Number(user) + Number(sys), rssMB: Number(kb) / 1024 }));
out.pipeline.wall = Math.max(...out.pipeline.map((s) => s.wall));
const slowest = [...out.pipeline].sort((a, b) => b.cpu - a.cpu)[0].name;
out.slowestStage = slowest;
writeFileSync(here + "out/records.json", JSON.stringify(out, null, 2) + "\n");

console.log(`records: ${lines}`);
for (const k of ["filter", "summarize", "floor"]) console.log(`${out[k].name.padEnd(24)} ${out[k].secs.toFixed(2)} s  ${out[k].recordsPerSec} records/s ${k === "floor" ? "(what JSON.parse alone allows)" : "(target >= 500000)"}  peak RSS ${out[k].rssMB.toFixed(0)} MB`);
console.log(`trace-summarize memory: ${out.memory.tenth.rssMB.toFixed(0)} MB for 1/10 (${out.memory.tenth.resources} resources), ${out.memory.all.rssMB.toFixed(0)} MB for all (${out.memory.all.resources} resources)`);
console.log(`pipeline trace-parse | trace-filter --files | trace-summarize: ${out.pipeline.wall.toFixed(2)} s wall; ` +
  out.pipeline.map((s) => `${s.name} ${s.cpu.toFixed(2)} s CPU`).join(", ") + `; slowest stage: ${slowest}`);
