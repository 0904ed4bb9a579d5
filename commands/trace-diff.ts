#!/usr/bin/env node
// trace-diff: compare a baseline profile with a new run; exit 1 when it does something new.

import { cli, main, tell, warn, EXIT_NO, EXIT_OK, EXIT_TROUBLE, Reported, UserError } from "./cli.js";
import { diffProfiles, diffText, loadAllowFile } from "../lib/profile/diff.js";
import { readRecords } from "../lib/io/ndjson-in.js";
import { loadRules } from "../lib/profile/normalize.js";
import { RecordWriter, replaceFile } from "../lib/io/output.js";
import { Profiler, type Summary } from "../lib/profile/summary.js";
import { gate } from "../lib/profile/trust.js";

const prog = "trace-diff";
const a = cli(prog, "Usage: $0 [OPTIONS] BASELINE [CURRENT|-]\n       trace-run -- COMMAND | $0 baseline.profile\n\nCompare a baseline profile with a current one (profiles or raw events, summarised as trace-summarize does). Exit 0: nothing that matters changed; 1: it did; 2: trouble.")
  .option("format", { choices: ["ndjson", "text"] as const, describe: "output form (default: text on a terminal, else ndjson)" })
  .option("strict", { type: "boolean", default: false, describe: "fail on any change, removals and narrowings too" })
  .option("allow", { type: "string", array: true, describe: "an expected change: a path glob, net:ADDR:PORT, unix:GLOB, priv:CAP, cred:OP; repeatable" })
  .option("allow-file", { type: "string", describe: "file of allow patterns, one a line (# comments)" })
  .option("ignore-kind", { type: "string", array: true, choices: ["file", "exec", "net", "priv", "cred"], describe: "leave out differences of this kind; repeatable" })
  .option("rules", { type: "string", describe: "normalisation rules file, as for trace-summarize" })
  .option("update", { type: "boolean", default: false, describe: "accept: write BASELINE merged with CURRENT back to BASELINE, exit 0" })
  .option("allow-incomplete", { type: "boolean", default: false, describe: "compare (or --update with) a trace that is not complete: cut short, lossy, or of a command that did not run" })
  .check((x) => {
    if (x._.length < 1 || x._.length > 2) throw new Error("give BASELINE and, optionally, CURRENT (default: standard input)");
    return true;
  })
  .example("trace-run -- ./app --selftest | trace-diff app.profile", "fail when the app does something new")
  .example("trace-diff --allow '/var/cache/app/**' --allow net:10.0.0.5:443 app.profile new.ndjson", "with expected changes")
  .example("trace-diff --update app.profile new.ndjson && git commit app.profile", "accept the change as the new baseline")
  .parseSync();

await main(prog, async () => {
  const [basePath, curPath = "-"] = a._.map(String);
  if (basePath === "-" && curPath === "-") throw new UserError("BASELINE and CURRENT cannot both be standard input");
  const rules = a.rules ? loadRules(a.rules) : [];
  const load = async (f: string, current: boolean) => {
    const p = new Profiler(rules);
    let n = 0;
    const res = await readRecords(tell(prog), [f], (r) => { n++; p.add(r); });
    const name = f === "-" ? "<stdin>" : f;
    if (res.badLines) throw new UserError(`${name}: cannot compare input that was not read whole`);
    if (res.badFiles) throw new Reported();          // the reader said why
    // an empty current stream is a trace that failed, not a program that did nothing: it must not
    // pass (an empty baseline may stand for "nothing expected yet": everything then fails)
    if (n === 0 && current) throw new UserError(`${name}: no records: nothing to compare`);
    const profile = p.result();
    // a run that did not happen, was cut short or lost events must not pass, nor become the baseline
    const w = gate(name, profile[0], a["allow-incomplete"]);
    if (w) warn(prog, w);
    return profile;
  };
  const base = await load(basePath, false), cur = await load(curPath, true);
  if (a.update) {
    // the new baseline is both merged: what either did is expected from now on
    const merged = new Profiler(rules);
    for (const r of [...base, ...cur]) merged.add(r);
    replaceFile(basePath, merged.result().map((r) => JSON.stringify(r) + "\n").join(""));
    return EXIT_OK;
  }
  const ds = diffProfiles(base.slice(1) as Summary[], cur.slice(1) as Summary[], {
    strict: a.strict, ignoreKinds: a["ignore-kind"], allow: [...(a.allow ?? []), ...(a["allow-file"] ? loadAllowFile(a["allow-file"]) : [])],
  });
  const failing = ds.filter((d) => d.fails).length;
  const format = a.format ?? (process.stdout.isTTY ? "text" : "ndjson");
  if (format === "text") {
    process.stdout.write(diffText(ds));
    process.stdout.write(`${ds.length} difference${ds.length === 1 ? "" : "s"}, ${failing} failing\n`);
  } else {
    const out = new RecordWriter();
    for (const d of ds) out.write(d);
    out.write({ type: "end", differences: ds.length, failing, added: ds.filter((d) => d.change === "added").length,
      removed: ds.filter((d) => d.change === "removed").length, changed: ds.filter((d) => d.change === "changed").length });
    await out.end();
  }
  return failing ? EXIT_NO : EXIT_OK;
}, EXIT_TROUBLE);
