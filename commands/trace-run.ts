#!/usr/bin/env node
// trace-run: run a command under strace and stream its records (see trace-records(5)) as they happen.

import { cli, main } from "../lib/cli.js";
import { runTraced, EXIT_RUN_FAILED } from "../lib/run.js";

const prog = "trace-run";
const spec = cli(prog, "Usage: $0 [OPTIONS] -- COMMAND [ARGS...]\n       $0 [OPTIONS] -p PID\n       $0 -- COMMAND | trace-filter --files\n\nRun COMMAND under strace and write its records to stdout as they happen. COMMAND's stdout goes to stderr (stdout belongs to the records).")
  .parserConfiguration({ "halt-at-non-option": true, "populate--": true, "greedy-arrays": false })
  .option("p", { alias: "pid", type: "number", array: true, describe: "attach to a running process (and its threads and children from then on); repeatable" })
  .option("user", { alias: "u", type: "string", describe: "run COMMAND as this user, with its groups (strace -u; needs root)" })
  .option("stdout", { type: "string", describe: "write COMMAND's stdout to this file instead of stderr" })
  .option("raw", { type: "string", describe: "also keep strace's text output in this file" })
  .option("all-syscalls", { type: "boolean", default: false, describe: "trace every system call, not only file, network, process, credential and privileged ones" })
  .option("cost", { type: "boolean", default: false, describe: "also trace reads and writes, so that profiles count the bytes each file and peer saw (slower)" })
  .option("strace-arg", { type: "string", array: true, describe: "pass an extra argument to strace; repeatable" })
  .option("strace", { type: "string", default: "strace", describe: "the strace program to run" })
  .check((a) => {
    for (const p of a.p ?? []) if (!Number.isInteger(p) || p <= 0) throw new Error(`-p wants a process id, not '${p}'`);
    return true;
  })
  .example("trace-run -- make | trace-filter --files", "the files a build touches")
  .example("trace-run --user nobody -- cat /etc/shadow", "what a command is denied as another user")
  .example("trace-run -p 1234 > daemon.ndjson", "attach to a running process until ^C")
  .example("trace-run --raw make.strace -- make > make.ndjson", "keep strace's own text too")
  .example("trace-run --cost -- ./backup.sh | trace-summarize --format text", "what it costs: CPU, memory, bytes per file and peer");
// "trace-run completion" prints the completion script (a program named completion: "trace-run -- completion")
if (process.argv.length === 3 && process.argv[2] === "completion") { spec.showCompletionScript(); process.exit(0); }
const argv = spec.parseSync();

const command = [...argv._.map(String), ...((argv["--"] as string[] | undefined) ?? []).map(String)];
await main(prog, () => runTraced(prog, {
  command, pid: argv.p, user: argv.user, stdout: argv.stdout, raw: argv.raw, allSyscalls: argv["all-syscalls"],
  straceArgs: argv["strace-arg"], strace: argv.strace, cost: argv.cost,
}), EXIT_RUN_FAILED);
