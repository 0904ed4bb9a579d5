// The trace-parse job: strace text from files or stdin, through the line splitter and the assembler,
// to records on stdout, framed by a `run` header and an `end` footer.

import { createReadStream, statSync } from "node:fs";
import type { Readable } from "node:stream";
import { Assembler, type AssembleOptions } from "./assemble.js";
import { DEFAULT_MAX_LINE, LineSplitter } from "./lines.js";
import { RecordWriter } from "./output.js";
import { Progress } from "./progress.js";
import { EXIT_OK, EXIT_TROUBLE, UserError, describe, warn } from "./cli.js";
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
  const progress = new Progress(prog);
  let status = EXIT_OK;
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

  for (const file of files) {
    if (writer.closed) break;
    let input: Readable;
    let total: number | undefined;
    try {
      if (file === "-") input = process.stdin;
      else {
        total = statSync(file).size;
        input = createReadStream(file, { highWaterMark: 1 << 18 });
      }
    } catch (e) {
      warn(prog, describe(e as NodeJS.ErrnoException));
      status = EXIT_TROUBLE;
      continue;
    }
    const pidMatch = ff ? /\.(\d+)$/.exec(file) : null;
    asm.startFile(file, pidMatch ? Number(pidMatch[1]) : null);
    const before = asm.counts.unparsed;
    const split = new LineSplitter(opts.maxLine ?? DEFAULT_MAX_LINE);
    try {
      for await (const chunk of input) {
        for (const l of split.push(chunk as Buffer)) asm.line(l.text, l.no, l.fullLength);
        await writer.flush();
        if (writer.closed) break;
        progress.update(file === "-" ? "<stdin>" : file, split.bytes, total);
      }
      for (const l of split.end()) asm.line(l.text, l.no, l.fullLength);
    } catch (e) {
      if (e instanceof UserError) throw e;
      warn(prog, `${file}: ${describe(e as NodeJS.ErrnoException)}`);
      status = EXIT_TROUBLE;
    } finally {
      if (file !== "-") input.destroy();
    }
    progress.done();
    const bad = asm.counts.unparsed - before;
    if (bad > 0) warn(prog, `${file === "-" ? "<stdin>" : file}: ${bad} line${bad === 1 ? "" : "s"} not understood`);
  }
  asm.end();
  const { lines, records, unparsed } = asm.counts;
  writer.write({ type: "end", lines, records, unparsed });
  await writer.end();
  if (writer.error) throw writer.error;
  return status;
}
