#!/usr/bin/env node
// trace-grant: which accesses of a traced run a user would be denied on this host, and the narrowest grant for each.

import { hostname } from "node:os";
import { cli, main, tell, version, warn, EXIT_OK, EXIT_TROUBLE, Reported, UserError } from "./cli.js";
import { homeOf, lookupUser, W } from "../lib/grant/access.js";
import { accessNeeds, askKernel, byDescriptor, countGrants, planGrants, jobOutputs, refusals, resolveNeeds, tmpOutputs, type PlanHeader } from "../lib/grant/grant.js";
import { shPlan, systemdPlan, textPlan } from "../lib/grant/format.js";
import { accountHomes, realHost } from "../lib/grant/host.js";
import { loadSensitive } from "../lib/profile/verdict.js";
import { encodeBytes } from "../lib/io/bytes.js";
import type { Generated } from "../lib/render.js";
import { readRecords } from "../lib/io/ndjson-in.js";
import { RecordWriter } from "../lib/io/output.js";
import type { SyscallRecord } from "../lib/io/records.js";
import { loadRules, OwnProc } from "../lib/profile/normalize.js";
import { PROFILE_WARNING, Profiler } from "../lib/profile/summary.js";
import { gate } from "../lib/profile/trust.js";

const prog = "trace-grant";
const a = cli(prog, "Usage: $0 --user NAME [OPTIONS] [FILE|-]...\n       trace-run -- COMMAND | $0 --user NAME --format text\n\nSay which of the accesses a traced run made NAME would be denied on this host (the kernel decides, as NAME),\nand the narrowest grant that allows each. Reads events or profiles; run it as root.")
  .option("user", { alias: "u", type: "string", demandOption: true, describe: "the user who is to run the program" })
  .option("format", { choices: ["ndjson", "text", "sh", "systemd"] as const, describe: "ndjson grant records, a text report, a shell script of the grants (and their undo), or a systemd drop-in (default: text on a terminal, else ndjson)" })
  .option("collapse", { type: "number", default: 10, describe: "show the ACLs of more than N files under one directory as one DIR/** grant (every file is still listed and granted one by one); 0: never" })
  .option("groups", { type: "boolean", default: true, describe: "offer membership of a safe group that owns what is needed (--no-groups: ACLs instead)" })
  .option("allow-incomplete", { type: "boolean", default: false, describe: "make the plan even from a trace that is not complete: cut short, lossy, or of a command that did not run" })
  .option("sensitive", { type: "string", describe: "file of globs, one a line, that replaces the list of sensitive files (as trace-summarize): a grant on one says it exposes secrets" })
  .option("script", { type: "string", describe: "--format systemd: where the sh plan is installed, which the drop-in runs as root before start and after stop (default /etc/trace-grant/NAME.sh)" })
  .option("rules", { type: "string", describe: "file of normalisation rules, one 'REGEX => REPLACEMENT' a line (as trace-summarize)" })
  .check((x) => {
    if (!(x.collapse >= 0)) throw new Error("--collapse wants a number >= 0");
    // root runs it at every start: a plain absolute path, nothing for systemd or sh to read into
    if (x.script !== undefined && !/^(\/[A-Za-z0-9._+-]+)+$/.test(x.script)) throw new Error("--script wants an absolute path of letters, digits and ._+-");
    return true;
  })
  .example("trace-run -- lynis audit system | trace-grant --user auditor --format text", "what auditor would be denied, and the grants")
  .example("trace-grant --user auditor --format sh root.ndjson > grants.sh && sh grants.sh", "apply the plan (sh grants.sh undo takes it back)")
  .example("trace-run --user auditor -- lynis audit system | trace-grant --user auditor", "from a run as the user: what it was denied")
  .example("trace-grant --user auditor --format systemd root.ndjson > lynis.service.d/user.conf", "run it as a service as auditor")
  .parseSync();

await main(prog, async () => {
  const user = lookupUser(a.user);
  if (user.uid === 0) throw new UserError(`${a.user} is root: there is nothing to grant`);
  const host = realHost();
  const own = new OwnProc();
  const p = new Profiler(a.rules ? loadRules(a.rules) : []);
  const res = await readRecords(tell(prog), a._.map(String), (r) => {
    if (r.type !== "syscall" || !byDescriptor(r as SyscallRecord)) p.add(own.rewrite(r));
  });
  if (res.badLines) throw new UserError("the input was not read whole: no plan made");
  if (res.badFiles) throw new Reported();            // the reader said why
  const [profile, ...items] = p.result();
  const w = gate(a._.map(String), profile, a["allow-incomplete"]);
  if (w) warn(prog, w);

  // the home of whoever was traced (root, when the input does not say)
  const homes = (profile.users.length ? profile.users : ["root"]).map(homeOf).filter((h): h is string => !!h);
  const asked = accessNeeds(items, host, homes, profile.start);
  // planned on the files the kernel will grant on, never through what anyone but root could redirect
  const needs = resolveNeeds(asked.needs, host);
  // only root can ask the kernel with a group added
  const withGroups = a.groups && process.getuid?.() === 0;
  if (a.groups && !withGroups) warn(prog, "not running as root: group grants are not offered (ACLs instead)");
  const { verdicts, groupFixes, current, checked } = await askKernel(user, needs, host, withGroups);

  const sensitive = a.sensitive ? loadSensitive(a.sensitive) : undefined;
  const grants = planGrants({ user, needs, verdicts, groupFixes, current, items, host, collapse: a.collapse || undefined, sensitive, homes: accountHomes() });
  const refused = refusals(needs, verdicts, host, user.uid);
  const unchecked = [...refused, ...asked.unchecked];
  if (refused.length) {
    warn(prog, `${refused.length} denied path${refused.length === 1 ? "" : "s"} refused, not granted, because someone other than root could ` +
      `redirect ${refused.length === 1 ? "it" : "them"} (the plan's unchecked list): ${JSON.stringify(refused[0].path)}${refused.length > 1 ? ", …" : ""}`);
  }
  const at = Date.now() / 1000;
  const groups = user.groups.map((g) => g.name);
  const header: PlanHeader = {
    type: "plan", v: 1, user: user.name, uid: user.uid, groups, host: hostname(), at, commands: profile.commands,
    checked, denied: verdicts.filter((v) => v !== "ok" && v !== "gone").length, grants: countGrants(grants),
    unchecked,
    ...(asked.outputs.length ? { outputs: jobOutputs(asked.outputs, needs, verdicts, grants) } : {}),
    note: `Decided by the kernel of ${hostname()} at ${new Date(at * 1000).toISOString()}, checking each access as ${user.name} ` +
      `(groups ${groups.join(", ")}): on another host, or on this one after changes, the answer may differ.`,
    warning: PROFILE_WARNING,
  };
  const format = a.format ?? (process.stdout.isTTY ? "text" : "ndjson");
  // a generator's text is in its target's syntax; raw bytes of names (sh words) are written as the bytes they are
  const emit = (g: Generated) => { for (const w of g.warnings) warn(prog, w); process.stdout.write(encodeBytes(g.text)); };
  if (format === "text") process.stdout.write(textPlan(header, grants));
  else if (format === "sh") emit(shPlan(header, grants, version()));
  else if (format === "systemd") {
    const written = [...new Set(needs.filter((n) => n.mode & W).map((n) => n.path))].sort();
    emit(systemdPlan(header, grants, written, version(), { script: a.script, outputs: tmpOutputs(items, host) }));
  } else {
    const out = new RecordWriter();
    out.write(header);
    for (const g of grants) out.write(g);
    await out.end();
  }
  return EXIT_OK;
}, EXIT_TROUBLE);
