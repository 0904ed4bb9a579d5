#!/usr/bin/env node
// trace-policy: an enforceable policy from a trace: seccomp (Docker/OCI), AppArmor, or a systemd drop-in.

import { cli, main, tell, version, EXIT_OK, Reported, UserError, warn } from "./cli.js";
import { readRecords } from "../lib/io/ndjson-in.js";
import { ARCHES, hostArch, seccompProfile } from "../lib/policy/seccomp.js";
import { apparmorProfile } from "../lib/policy/apparmor.js";
import { systemdDropIn } from "../lib/policy/systemd.js";
import { landlockRuleset, realHostFacts } from "../lib/policy/landlock.js";
import { Profiler } from "../lib/profile/summary.js";
import type { Generated } from "../lib/render.js";
import { gate } from "../lib/profile/trust.js";

const prog = "trace-policy";
const a = cli(prog, "Usage: $0 --format seccomp|apparmor|systemd|landlock [OPTIONS] [FILE|-]...\n       trace-run --all-syscalls -- docker run IMAGE | $0 --format seccomp > profile.json\n\nWrite a policy that allows what the traced run did (events or profiles; several runs merged is the normal case).")
  .option("format", { choices: ["seccomp", "apparmor", "systemd", "landlock"] as const, demandOption: true, describe: "the policy: seccomp (Docker/OCI JSON), apparmor (apparmor.d profile), systemd (unit drop-in), landlock (a ruleset for trace-sandbox)" })
  .option("name", { type: "string", describe: "apparmor: the profile's name (default: the program's, attached to its path)" })
  .option("collapse", { type: "number", describe: "show a directory with more than N entries as DIR/** (as trace-summarize)" })
  .check((x) => { if (x.collapse !== undefined && !(x.collapse >= 1)) throw new Error("--collapse wants a number >= 1"); return true; })
  .option("allow-incomplete", { type: "boolean", default: false, describe: "write the policy even from a trace that is not complete: cut short, lossy, or of a command that did not run" })
  .option("arg-filters", { type: "boolean", default: true, describe: "seccomp: allow socket, clone, unshare, personality and prctl only with the argument values traced (--no-arg-filters: whatever their arguments)" })
  .option("arch", { choices: Object.keys(ARCHES), describe: "seccomp: the architectures to name (default: the host's)" })
  .option("allow-filtered", { type: "boolean", default: false, describe: "write the policy even from a trace of only some system calls (it will lack calls)" })
  .example("trace-run --all-syscalls -- docker run --rm app:1 | trace-policy --format seccomp > app.json", "trace everything, then the profile")
  .example("docker run --security-opt seccomp=app.json app:1", "run the container under it")
  .example("trace-policy --format seccomp --arch arm64 app.ndjson > app-arm64.json", "the same calls, for an arm64 host")
  .example("trace-run -- ./tool | trace-policy --format apparmor --collapse 20 > /etc/apparmor.d/tool", "an AppArmor profile")
  .example("trace-policy --format systemd tool.ndjson > tool.service.d/sandbox.conf", "a systemd drop-in")
  .example("trace-policy --format landlock --collapse 20 tool.ndjson > tool.landlock.json", "a Landlock ruleset: trace-sandbox tool.landlock.json -- ./tool")
  .parseSync();

await main(prog, async () => {
  const p = new Profiler();
  const res = await readRecords(tell(prog), a._.map(String), (r) => p.add(r));
  if (res.badLines) throw new UserError("the input was not read whole: no policy written");
  if (res.badFiles) throw new Reported();            // the reader said why
  const [h, ...items] = p.result(a.collapse);
  const w = gate(a._.map(String), h, a["allow-incomplete"]);
  if (w) warn(prog, w);
  if (!Object.keys(h.syscalls).length) throw new UserError("no system calls in the input: no policy written");
  // a generator refuses what it cannot write safely, says so, and writes the rest
  const emit = (g: Generated) => { for (const w of g.warnings) warn(prog, w); process.stdout.write(g.text); return EXIT_OK; };
  if (a.format === "apparmor") return emit(apparmorProfile(h, items, version(), a.name));
  if (a.format === "systemd") return emit(systemdDropIn(h, items, version()));
  if (a.format === "landlock") {
    // the files' types and the programs' interpreters are read here, on the host the sandbox will run on
    const { ruleset, warnings } = landlockRuleset(h, items, realHostFacts());
    for (const w of warnings) warn(prog, w);
    process.stdout.write(JSON.stringify(ruleset, null, 2) + "\n");
    return EXIT_OK;
  }
  if (h.filtered) {
    const msg = "the trace followed only some system calls (trace-run's default filter): trace with trace-run --all-syscalls";
    if (!a["allow-filtered"]) throw new UserError(msg);
    warn(prog, msg + "; writing an incomplete policy as asked");
  } else if (!h.runs) {
    warn(prog, "the input does not say whether every system call was traced (no run header with strace's flags)");
  }
  process.stdout.write(JSON.stringify(seccompProfile(h, version(), { argFilters: a["arg-filters"], arch: a.arch ?? hostArch() }), null, 2) + "\n");
  return EXIT_OK;
});
