// The trace-parse job: strace text from files or stdin, through the line splitter and the assembler,
// to records on stdout, framed by a `run` header and an `end` footer.

import { Assembler, type AssembleOptions } from "./assemble.js";
import { readLines } from "./input.js";
import { DEFAULT_MAX_LINE } from "./lines.js";
import { RecordWriter } from "./output.js";
import { EXIT_OK, EXIT_TROUBLE, UserError, warn } from "./cli.js";
import { RECORD_VERSION, type TraceRecord } from "./records.js";

export interface ParseOptions extends AssembleOptions {
  files: string[];          // "-" for stdin; none: stdin
  strict?: boolean;         // the first line not understood is an error
  maxLine?: number;
  ff?: boolean;             // operands are strace -ff files NAME.PID
}

export async function parseFiles(prog: string, opts: ParseOptions, writer = new RecordWriter()): Promise<number> {
  const files = opts.files.length ? opts.files : ["-"];
  const ff = opts.ff ?? (files.length > 1 && files.every((f) => /\.\d+$/.test(f)));
  let before = 0;
  const asm = new Assembler((rec: TraceRecord) => {
    if (opts.strict && rec.type === "unparsed") {
      throw new UserError(`${rec.file === "-" ? "<stdin>" : rec.file}:${rec.line}: ${rec.reason}: ${rec.text.slice(0, 200)}`);
    }
    writer.write(rec);
  }, opts);
  const run: TraceRecord = { type: "run", v: RECORD_VERSION, tracer: "strace", sources: files };
  if (opts.cwd) run.cwd = opts.cwd;
  if (opts.date) run.date = opts.date;
  writer.write(run);

  const bad = await readLines(prog, files, {
    start(file) {
      const pid = ff ? /\.(\d+)$/.exec(file) : null;
      asm.startFile(file, pid ? Number(pid[1]) : null);
      before = asm.counts.unparsed;
    },
    line: (text, no, full) => asm.line(text, no, full),
    batch: async () => { await writer.flush(); return !writer.closed; },
    end(_file, name) {
      const n = asm.counts.unparsed - before;
      if (n > 0) warn(prog, `${name}: ${n} line${n === 1 ? "" : "s"} not understood`);
    },
  }, opts.maxLine ?? DEFAULT_MAX_LINE);
  asm.end();
  const { lines, records, unparsed } = asm.counts;
  writer.write({ type: "end", lines, records, unparsed });
  await writer.end();
  if (writer.error) throw writer.error;
  return bad ? EXIT_TROUBLE : EXIT_OK;
}
