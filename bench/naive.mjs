// The naive baseline trace-parse is measured against: Node's readline, one regular expression per
// line, JSON.stringify of what it captured. No joining, no resolution, no classification.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

const RE = /^(\d+)\s+(\S+)\s+([a-z0-9_]+)\((.*)\)\s+=\s+(-?\w+|\?)(?:\s+(E[A-Z]+)\s+\(([^)]*)\))?/;
const rl = createInterface({ input: createReadStream(process.argv[2]), crlfDelay: Infinity });
let buf = "";
for await (const line of rl) {
  const m = RE.exec(line);
  const rec = m ? { pid: +m[1], time: m[2], syscall: m[3], args: m[4], ret: m[5], errno: m[6], errmsg: m[7] } : { unparsed: line };
  buf += JSON.stringify(rec) + "\n";
  if (buf.length > 1 << 16) { if (!process.stdout.write(buf)) await new Promise((r) => process.stdout.once("drain", r)); buf = ""; }
}
process.stdout.write(buf);
