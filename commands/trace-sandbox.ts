#!/usr/bin/env node
// trace-sandbox: run a command under a Landlock ruleset (trace-policy --format landlock), as whoever runs it.

import { cli, main } from "./cli.js";
import { runSandboxed, EXIT_SANDBOX_FAILED } from "../lib/policy/sandbox.js";

const prog = "trace-sandbox";
const spec = cli(prog, "Usage: $0 [OPTIONS] POLICY -- COMMAND [ARGS...]\n       trace-run --user U -- $0 POLICY -- COMMAND | trace-filter --failed\n\nRun COMMAND confined by the Landlock ruleset in POLICY: it may use the files, TCP ports and scopes the policy allows, and the kernel refuses the rest (EACCES, EPERM). No root needed. COMMAND's status is passed on.")
  .parserConfiguration({ "halt-at-non-option": true, "populate--": true, "greedy-arrays": false })
  .option("strict", { type: "boolean", default: false, describe: "refuse to run (exit 125) when this kernel cannot enforce the whole policy" })
  .option("abi", { type: "number", describe: "use at most this Landlock ABI, as an older kernel would (what it cannot enforce is said on stderr)" })
  .check((x) => { if (x.abi !== undefined && !(Number.isInteger(x.abi) && x.abi >= 1)) throw new Error("--abi wants a whole number >= 1"); return true; })
  .example("trace-policy --format landlock tool.ndjson > tool.json && trace-sandbox tool.json -- ./tool", "run a tool within what its trace did")
  .example("trace-run --user auditor -- trace-sandbox tool.json -- ./tool | trace-filter --failed", "what the sandbox refused")
  .example("trace-sandbox --strict tool.json -- ./tool", "never run with less than the whole policy");
// "trace-sandbox completion" prints the completion script (a program named completion: "trace-sandbox P -- completion")
if (process.argv.length === 3 && process.argv[2] === "completion") { spec.showCompletionScript(); process.exit(0); }
const argv = spec.parseSync();

// everything from POLICY on is left unparsed (halt-at-non-option): COMMAND's own options stay its own
const words = [...argv._.map(String), ...((argv["--"] as string[] | undefined) ?? []).map(String)];
const policy = words[0];
const command = words.slice(words[1] === "--" ? 2 : 1);
await main(prog, async () => {
  if (policy === undefined || !command.length) {
    process.stderr.write(`${prog}: wants POLICY -- COMMAND\nTry '${prog} --help' for more information.\n`);
    return 2;
  }
  return runSandboxed(policy, command, argv.strict, argv.abi);
}, EXIT_SANDBOX_FAILED);
