// Writes bpf/leastpriv.bt from lib/bpf/program.ts (built into dist/); `--check` fails when the file is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { bpfProgram } from "../dist/lib/bpf/program.js";

const file = new URL("./leastpriv.bt", import.meta.url);
const text = bpfProgram();
if (process.argv.includes("--check")) {
  let old = "";
  try { old = readFileSync(file, "utf8"); } catch { /* missing */ }
  if (old !== text) { process.stderr.write("bpf/leastpriv.bt is stale: run npm run bpf\n"); process.exit(1); }
} else writeFileSync(file, text);
