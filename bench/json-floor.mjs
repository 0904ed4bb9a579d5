#!/usr/bin/env node
// What JSON alone costs, with the project's own line reader, so that the speed targets can be set
// against it in the same run (the benchmarks call this; it prints one JSON line):
//   parse FILE      every line of an NDJSON file read and JSON.parse'd, nothing else: the least any
//                   tool that checks every record it reads can take (trace-filter, trace-summarize)
//   stringify FILE  the records of FILE serialised again with JSON.stringify, timed apart from reading
//                   and parsing them: the least trace-parse can take to write those records
import { readLines } from "../dist/lib/io/input.js";

const [mode, file] = process.argv.slice(2);
if (!["parse", "stringify"].includes(mode) || !file) {
  console.error("usage: json-floor.mjs parse|stringify FILE");
  process.exit(2);
}
let records = 0, bytes = 0, stringifyMs = 0;
let batch = [];
const t0 = performance.now();
await readLines({ warn: (m) => console.error("json-floor: " + m) }, [file], {
  line(text) {
    if (text === "") return;
    const r = JSON.parse(text);
    records++;
    if (mode === "stringify") batch.push(r);
  },
  async batch() {
    if (mode === "stringify") {
      const t = performance.now();
      let out = "";
      for (const r of batch) out += JSON.stringify(r) + "\n";
      bytes += out.length;
      stringifyMs += performance.now() - t;
      batch = [];
    }
    return true;
  },
});
const total = (performance.now() - t0) / 1000;
console.log(JSON.stringify(mode === "parse" ? { records, secs: total } : { records, bytes, secs: stringifyMs / 1000 }));
