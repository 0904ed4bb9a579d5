#!/usr/bin/env node
// trace-run: run a command under a tracer (ebpf, bpftrace or strace) and stream its records (see
// trace-records(5)) as they happen.

import { cli, main, tell } from "./cli.js";
import { capture } from "../lib/run/capture.js";
import { AUTO, BACKENDS, backendNamed, chooseAuto, usageError } from "../lib/run/registry.js";
import { EXIT_RUN_FAILED } from "../lib/run/session.js";
import { commandAsGiven } from "../lib/run/launch.js";

const prog = "trace-run";
const spec = cli(prog, "Usage: $0 [OPTIONS] -- COMMAND [ARGS...]\n       $0 [OPTIONS] -p PID\n       $0 [--backend ebpf|bpftrace] --container ID|NAME\n       $0 -- COMMAND | trace-filter --files\n\nRun COMMAND under a tracer (the eBPF loader, bpftrace or strace: see --backend) and write its records to stdout as they happen. COMMAND's stdout goes to stderr (stdout belongs to the records).")
  .parserConfiguration({ "halt-at-non-option": true, "populate--": true, "greedy-arrays": false })
  .option("backend", { choices: [AUTO, ...BACKENDS.map((b) => b.name)], default: AUTO, describe: "the tracer: ebpf is the batched eBPF loader (root, fastest, full paths and argv); bpftrace watches from the kernel (root, paths cut at 199 bytes, slow to start); strace stops the program at each call (every call, whole paths, -p, --cost); auto takes the first of these that can run here and does what the options ask (the run record's tracer says which)" })
  .option("container", { type: "string", describe: "trace a running container (id or name) until ^C or until it stops (ebpf or bpftrace)" })
  .option("bpftrace", { type: "string", default: "bpftrace", describe: "the bpftrace program to run" })
  .option("p", { alias: "pid", type: "number", array: true, describe: "attach to a running process (and its threads and children from then on); repeatable (strace)" })
  .option("user", { alias: "u", type: "string", describe: "run COMMAND as this user, with its groups, in a session and environment of its own, as sudo would (needs root)" })
  .option("preserve-env", { type: "string", array: true, describe: "with --user: also pass this variable of trace-run's environment to COMMAND; repeatable" })
  .option("stdout", { type: "string", describe: "write COMMAND's stdout to this file instead of stderr" })
  .option("raw", { type: "string", describe: "also keep the tracer's own output (strace's text, bpftrace's lines, the eBPF loader's frames) in this file, for trace-parse" })
  .option("all-syscalls", { type: "boolean", default: false, describe: "trace every system call, not only file, network, process, credential and privileged ones (strace)" })
  .option("cost", { type: "boolean", default: false, describe: "also trace reads and writes, so that profiles count the bytes each file and peer saw (strace; slower)" })
  .option("strace-arg", { type: "string", array: true, describe: "pass an extra argument to strace; repeatable" })
  .option("strace", { type: "string", default: "strace", describe: "the strace program to run" })
  .check((a) => {
    for (const p of a.p ?? []) if (!Number.isInteger(p) || p <= 0) throw new Error(`-p wants a process id, not '${p}'`);
    // what the backend asked (or, with auto, every backend) does not take
    const why = usageError(a.backend, { pid: a.p, container: a.container, cost: a.cost, allSyscalls: a["all-syscalls"], straceArgs: a["strace-arg"], raw: a.raw });
    if (why) throw new Error(why);
    return true;
  })
  .check((a) => {
    if (a["preserve-env"] !== undefined && a.user === undefined) throw new Error("--preserve-env goes with --user (without it, COMMAND gets the whole environment)");
    return true;
  })
  .example("trace-run -- make | trace-filter --files", "the files a build touches")
  .example("trace-run --user nobody -- cat /etc/shadow", "what a command is denied as another user")
  .example("trace-run -p 1234 > daemon.ndjson", "attach to a running process until ^C")
  .example("trace-run --backend strace --raw make.strace -- make > make.ndjson", "keep strace's own text too")
  .example("trace-run --cost -- ./backup.sh | trace-summarize --format text", "what it costs: CPU, memory, bytes per file and peer")
  .example("trace-run -- podman run --rm app:1 | trace-summarize > app.profile", "a container's own activity (docker run too)")
  .example("trace-run --backend bpftrace -- docker run app:1", "a new container, watched from the kernel")
  .example("trace-run --backend bpftrace --container web > web.ndjson", "a running container until ^C");
// "trace-run completion" prints the completion script (a program named completion: "trace-run -- completion")
if (process.argv.length === 3 && process.argv[2] === "completion") { spec.showCompletionScript(); process.exit(0); }
const argv = spec.parseSync();

// the words as given, byte for byte (yargs reads numbers in them, Node's argv loses bytes that are not UTF-8)
const command = commandAsGiven([...argv._.map(String), ...((argv["--"] as string[] | undefined) ?? []).map(String)]);
// each backend's own program option (--strace, --bpftrace)
const program = (name: string) => (argv as unknown as Record<string, string | undefined>)[name];
const request = {
  command, pid: argv.p, container: argv.container, user: argv.user, preserveEnv: argv["preserve-env"], stdout: argv.stdout, raw: argv.raw,
  cost: argv.cost, allSyscalls: argv["all-syscalls"], straceArgs: argv["strace-arg"],
};
await main(prog, async () => {
  if (argv.backend !== AUTO) return capture(tell(prog), backendNamed(argv.backend), { ...request, tracer: program(argv.backend) });
  const c = chooseAuto(request, (b) => program(b.name));
  return capture(tell(prog), c.backend, { ...request, tracer: c.tracer, auto: { version: c.version, skipped: c.skipped } });
}, EXIT_RUN_FAILED);
