// The trace-parse job: tracer output from files or stdin, through the line splitter and the reader
// for its format, to records on stdout, framed by a `run` header and an `end` footer. The format is
// told by each file's first line: strace's text, the leastpriv bpftrace program's lines, or the output
// of bpftrace's opensnoop, execsnoop or tcpconnect tools.

import { Assembler, type AssembleOptions } from "./assemble.js";
import { BpfAssembler } from "./bpftrace.js";
import { readLines } from "./input.js";
import { DEFAULT_MAX_LINE } from "./lines.js";
import { RecordWriter } from "./output.js";
import { SnoopReader, snoopHeader, type SnoopTool } from "./snoop.js";
import { EXIT_OK, EXIT_TROUBLE, UserError, warn } from "./cli.js";
import { RECORD_VERSION, type TraceRecord } from "./records.js";

export const FORMATS = ["auto", "strace", "bpftrace", "opensnoop", "execsnoop", "tcpconnect"] as const;
export type Format = (typeof FORMATS)[number];

export interface ParseOptions extends AssembleOptions {
  files: string[];          // "-" for stdin; none: stdin
  strict?: boolean;         // the first line not understood is an error
  maxLine?: number;
  ff?: boolean;             // operands are strace -ff files NAME.PID
  format?: Format;
}

interface Reader {
  line(text: string, no: number, fullLength?: number): void;
  end(): void;
  counts: { lines: number; records: number; unparsed: number };
}

/** The format a file's first meaningful line shows; undefined while only blank or "Attaching" lines were seen. */
export function sniff(line: string): Exclude<Format, "auto"> | undefined {
  if (line.trim() === "" || /^Attaching \d+ probes?\.\.\./.test(line)) return undefined;
  if (/^\{"type": "(printf|attached_probes|lost_events)", "data": /.test(line)) return "bpftrace";
  // the program's text lines (format 1): its reader says which format it reads
  if (/^[RCXFEMS+]\t\d+\t/.test(line) || /^Q\t\d+$/.test(line)) return "bpftrace";
  return snoopHeader(line) ?? "strace";
}

export async function parseFiles(prog: string, opts: ParseOptions, writer = new RecordWriter()): Promise<number> {
  const files = opts.files.length ? opts.files : ["-"];
  const ff = opts.ff ?? (files.length > 1 && files.every((f) => /\.\d+$/.test(f)));
  const emit = (rec: TraceRecord) => {
    if (opts.strict && rec.type === "unparsed") {
      throw new UserError(`${rec.file === "-" ? "<stdin>" : rec.file}:${rec.line}: ${rec.reason}: ${rec.text.slice(0, 200)}`);
    }
    writer.write(rec);
  };
  const readers = new Map<string, Reader & { startFile(file: string, pid?: number | null): void }>();
  let header = false;
  const writeHeader = (format: Exclude<Format, "auto">) => {
    if (header) return;
    header = true;
    const run: TraceRecord = { type: "run", v: RECORD_VERSION, tracer: format === "strace" ? "strace" : "bpftrace", sources: files };
    if (format !== "strace" && format !== "bpftrace") run.format = format;
    if (opts.cwd) run.cwd = opts.cwd;
    if (opts.date) run.date = opts.date;
    writer.write(run);
  };
  const readerFor = (format: Exclude<Format, "auto">) => {
    let r = readers.get(format);
    if (!r) {
      r = format === "strace" ? new Assembler(emit, opts)
        : format === "bpftrace" ? new BpfAssembler(emit, { cwd: opts.cwd })
          : new SnoopReader(format as SnoopTool, emit);
      readers.set(format, r);
    }
    return r;
  };

  let current: Reader | undefined;
  let held: { text: string; no: number; full?: number }[] = [];
  let fileName = "-";
  let filePid: number | null = null;
  let before = 0;
  const unparsedNow = () => [...readers.values()].reduce((n, r) => n + r.counts.unparsed, 0);
  const decide = (format: Exclude<Format, "auto">) => {
    writeHeader(format);
    const r = readerFor(format);
    r.startFile(fileName, filePid);
    current = r;
    for (const h of held) r.line(h.text, h.no, h.full);
    held = [];
  };

  const bad = await readLines(prog, files, {
    start(file) {
      fileName = file;
      const pid = ff ? /\.(\d+)$/.exec(file) : null;
      filePid = pid ? Number(pid[1]) : null;
      current = undefined;
      held = [];
      before = unparsedNow();
      if (opts.format && opts.format !== "auto") decide(opts.format);
    },
    line: (text, no, full) => {
      if (current) { current.line(text, no, full); return; }
      const f = full === undefined ? sniff(text) : "strace";
      held.push({ text, no, full });
      if (f) decide(f);
      else if (held.length > 1000) decide("strace");
    },
    batch: async () => { await writer.flush(); return !writer.closed; },
    end(_file, name) {
      if (!current && held.length) decide("strace");
      const n = unparsedNow() - before;
      if (n > 0) warn(prog, `${name}: ${n} line${n === 1 ? "" : "s"} not understood`);
    },
  }, opts.maxLine ?? DEFAULT_MAX_LINE);
  writeHeader(opts.format && opts.format !== "auto" ? opts.format : "strace");
  const counts = { lines: 0, records: 0, unparsed: 0 };
  for (const r of readers.values()) {
    r.end();
    counts.lines += r.counts.lines; counts.records += r.counts.records; counts.unparsed += r.counts.unparsed;
  }
  writer.write({ type: "end", ...counts });
  await writer.end();
  if (writer.error) throw writer.error;
  return bad ? EXIT_TROUBLE : EXIT_OK;
}
