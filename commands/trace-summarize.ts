#!/usr/bin/env node
// trace-summarize: fold events (or merge profiles) into a least-privilege profile.

import { cli, main, tell, warn, EXIT_OK, EXIT_TROUBLE } from "./cli.js";
import { readRecords } from "../lib/io/ndjson-in.js";
import { loadRules } from "../lib/profile/normalize.js";
import { RecordWriter } from "../lib/io/output.js";
import { textReport, useColour } from "../lib/profile/report.js";
import { Profiler } from "../lib/profile/summary.js";
import { loadSensitive, mountPoints, SENSITIVE, verdictOf, verdictText } from "../lib/profile/verdict.js";

const prog = "trace-summarize";
const a = cli(prog, "Usage: $0 [OPTIONS] [FILE|-]...\n       trace-run -- COMMAND | $0\n       $0 --merge run1.profile run2.profile\n\nFold records into a profile: one summary per file, program, peer, privilege and credential change, after a 'profile' header.")
  .option("format", { choices: ["ndjson", "text", "verdict"] as const, describe: "output form: the profile as records, a report opening with the verdict, or the verdict record alone (default: text on a terminal, else ndjson)" })
  .option("sensitive", { type: "string", describe: "file of globs, one a line, that replaces the list of sensitive files the verdict names" })
  .option("merge", { type: "boolean", default: false, describe: "the inputs are profiles (events are folded in either way)" })
  .option("collapse", { type: "number", describe: "show a directory with more than N accessed entries as DIR/**" })
  .option("runtime", { type: "boolean", default: false, describe: "include what a container runtime did setting the container up" })
  .option("rules", { type: "string", describe: "file of normalisation rules, one 'REGEX => REPLACEMENT' a line" })
  .option("root", { type: "string", describe: "a container's root file system, to resolve the container's names and read its scripts in" })
  .check((x) => { if (x.collapse !== undefined && !(x.collapse >= 1)) throw new Error("--collapse wants a number >= 1"); return true; })
  .example("trace-run -- ./install.sh | trace-summarize", "what an installer touches, as a report")
  .example("trace-summarize --collapse 20 run.ndjson > app.profile", "a profile, big directories as globs")
  .example("trace-summarize --merge host1.profile host2.profile > all.profile", "one profile of several runs")
  .example("trace-run --cost -- ./vendor-tool | trace-summarize --format verdict", "the answers, as one record for a pipeline to gate on")
  .parseSync();

await main(prog, async () => {
  const p = new Profiler(a.rules ? loadRules(a.rules) : [], a.runtime, { containerRoot: a.root });
  const res = await readRecords(tell(prog), a._.map(String), (r) => p.add(r));
  const [header, ...items] = p.result(a.collapse);
  // the profile carries the reasons in its header, so that the gates refuse it too
  if (header.incomplete) warn(prog, `the trace is incomplete: ${header.incomplete.join("; ")}: the profile says so`);
  const format = a.format ?? (process.stdout.isTTY ? "text" : "ndjson");
  // the verdict is drawn from every resource, before directories are collapsed into globs
  const verdict = () => { const [h, ...all] = p.result(); return verdictOf(h, all, a.sensitive ? loadSensitive(a.sensitive) : SENSITIVE, mountPoints()); };
  if (format === "verdict") { const out = new RecordWriter(); out.write(verdict()); await out.end(); }
  else if (format === "text") process.stdout.write(textReport(header, items, useColour(process.stdout), verdictText(verdict())));
  else {
    const out = new RecordWriter();
    out.write(header);
    for (const s of items) out.write(s);
    await out.end();
  }
  return res.badFiles || res.badLines ? EXIT_TROUBLE : EXIT_OK;
});
