#!/usr/bin/env node
// trace-parse: strace's text output (or bpftrace's, or the eBPF loader's frames) into leastpriv records (see trace-records(5)).

import { cli, main, tell } from "./cli.js";
import { DEFAULT_MAX_LINE } from "../lib/io/lines.js";
import { FORMATS, parseFiles, type Format } from "../lib/run/parse.js";

const prog = "trace-parse";
const argv = cli(prog, "Usage: $0 [OPTIONS] [FILE|-]...\n       strace -f -o '|trace-parse' COMMAND\n\nRead strace (or bpftrace, or eBPF loader) output and write one NDJSON record per call, signal, exit and line not understood.")
  .option("format", { choices: FORMATS, default: "auto", describe: "what wrote the input: strace, leastpriv's bpftrace program, leastpriv's eBPF loader (its frames), or bpftrace's opensnoop, execsnoop or tcpconnect tools (auto: told by each file's first bytes and line)" })
  .option("cwd", { type: "string", describe: "working directory of the first traced process, for relative paths when the log does not show it" })
  .option("date", { type: "string", describe: "date (YYYY-MM-DD, local time) of the first line, for -t/-tt timestamps" })
  .option("ff", { type: "boolean", describe: "operands are strace -ff files NAME.PID (default: guessed from the names when several are given)" })
  .option("strict", { type: "boolean", default: false, describe: "stop with exit status 2 at the first line (or frame) not understood" })
  .option("max-line", { type: "number", default: DEFAULT_MAX_LINE, describe: "longest line in bytes; longer lines become 'unparsed' records" })
  .check((a) => {
    if (a.date !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(a.date)) throw new Error(`--date wants YYYY-MM-DD, not '${a.date}'`);
    if (a.cwd !== undefined && !a.cwd.startsWith("/")) throw new Error("--cwd wants an absolute path");
    if (!(a["max-line"] > 0)) throw new Error("--max-line wants a positive number");
    return true;
  })
  .example("trace-parse trace.log", "parse a log written by strace -o trace.log")
  .example("strace -f -tt -T -yy -o trace.log make; trace-parse trace.log | trace-filter --files", "what make touched")
  .example("trace-parse --ff trace.*", "per-process files written by strace -ff -o trace")
  .example("trace-parse saved.bt.out", "output of leastpriv's bpftrace program (trace-run --backend bpftrace --raw)")
  .example("trace-parse saved.frames", "the eBPF loader's frames (trace-run --backend ebpf --raw)")
  .example("opensnoop.bt > opens.txt; trace-parse opens.txt", "opensnoop's output, as a best effort")
  .parseSync();

await main(prog, () => parseFiles(tell(prog), {
  files: argv._.map(String), cwd: argv.cwd, date: argv.date, strict: argv.strict, maxLine: argv["max-line"], ff: argv.ff,
  format: argv.format as Format,
}));
