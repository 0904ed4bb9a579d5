// The trace-parse job: tracer output from files or stdin, through the line splitter and the reader
// for its format, to records on stdout, framed by a `run` header and an `end` footer. The format is
// told by each file's first bytes: the eBPF loader's frames, or else by its first line: strace's text,
// the leastpriv bpftrace program's lines, or the output of bpftrace's opensnoop, execsnoop or tcpconnect tools.

import { Assembler, type AssembleOptions } from "../strace/assemble.js";
import { BpfAssembler } from "../bpf/bpftrace.js";
import { RingFileReader, framesAhead } from "../bpf/ring-file.js";
import { readChunks } from "../io/input.js";
import { DEFAULT_MAX_LINE } from "../io/lines.js";
import { RecordWriter } from "../io/output.js";
import { SnoopReader, snoopHeader, type SnoopTool } from "../bpf/snoop.js";
import { EXIT_OK, EXIT_TROUBLE, UserError, type Tell } from "../errors.js";
import { RECORD_VERSION, type TraceRecord } from "../io/records.js";
import { Feed, type TraceReader } from "../trace/reader.js";

export const FORMATS = ["auto", "strace", "bpftrace", "ebpf", "opensnoop", "execsnoop", "tcpconnect"] as const;
export type Format = (typeof FORMATS)[number];

export interface ParseOptions extends AssembleOptions {
  files: string[];          // "-" for stdin; none: stdin
  strict?: boolean;         // the first line not understood is an error
  maxLine?: number;
  ff?: boolean;             // operands are strace -ff files NAME.PID
  format?: Format;
}

/**
 * What a log shows of its own end, for the end record's `complete`: every process it shows must end in
 * it (an exit, a detach, or a thread's exec taking over its leader), and no call may be left unfinished
 * when it ends, unless strace let go of the processes (`<detached ...>`: -p and ^C). strace's text
 * shows all this; the bpftrace tools' output none of it.
 */
class EndWatch {
  private seen = new Set<number | null>();
  private ended = new Set<number | null>();
  unfinished = 0;            // calls the log left unfinished at its end
  detached = false;          // strace detached from the processes (they ran on)
  atEnd = false;             // set while the readers report what is still pending

  record(rec: TraceRecord): void {
    switch (rec.type) {
      case "syscall":
        this.seen.add(rec.pid);
        if (rec.detached) this.detached = true;
        else if (this.atEnd && rec.incomplete === "no-end") this.unfinished++;
        return;
      case "signal": this.seen.add(rec.pid); return;
      case "exit":
        this.seen.add(rec.pid);
        if (rec.supersededBy !== undefined) { this.seen.add(rec.supersededBy); this.ended.add(rec.supersededBy); }
        else this.ended.add(rec.pid);
        return;
      case "info": {
        const m = /^strace: Process (\d+) detached/.exec(rec.text);
        if (m) this.ended.add(Number(m[1]));
        return;
      }
      default: return;
    }
  }

  /** Processes the log shows that it does not show ending. */
  running(): number {
    let n = 0;
    // lines without a pid are the first process's, until strace numbers it (when it has a child)
    for (const p of this.seen) if (!this.ended.has(p) && !(p === null && this.seen.size > 1)) n++;
    return n;
  }
}

/** The end record's verdict on the input, by what the log can show (see trace-parse(1)). */
function completeness(formats: Set<string>, counts: { records: number; unparsed: number }, lost: number, w: EndWatch, frames?: RingFileReader): { ended?: "detached"; complete: boolean; incomplete?: string[] } {
  const why: string[] = [];
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  // an empty log is a tracer that wrote nothing (it failed, or the file was cut), not a program that did nothing
  if (counts.records === 0) why.push("the log is empty");
  // the eBPF loader's frames are not lines; an end frame missing is said once, not as a frame not understood
  const badFrames = frames ? frames.counts.unparsed - frames.endNotes : 0;
  const badLines = counts.unparsed - (frames?.counts.unparsed ?? 0);
  if (badLines > 0) why.push(`${plural(badLines, "line")} not understood`);
  if (badFrames > 0) why.push(`${plural(badFrames, "frame")} of the eBPF loader not understood`);
  if (frames && frames.cutRuns > 0) why.push(frames.cutRuns === 1 ? "the eBPF loader's output ends before its end frame" : `${frames.cutRuns} of the eBPF loader's outputs end before their end frame`);
  if (lost > 0) why.push(`lost ${plural(lost, "event")}`);
  // as trace-run says them: exec argument chunks, and records written with an argument missing
  for (const [kind, n] of Object.entries(frames?.lostKinds ?? {})) if (kind !== "events" && n > 0) why.push(`lost ${n} ${kind} ${n === 1 ? "piece" : "pieces"}`);
  const running = w.running();
  if (!w.detached) {
    if (w.unfinished > 0) why.push(`the log ends with ${w.unfinished} call${w.unfinished === 1 ? "" : "s"} unfinished`);
    if (running > 0) why.push(`the log ends before ${running} of its processes did`);
  }
  for (const f of formats) if (f !== "strace" && f !== "bpftrace" && f !== "ebpf") why.push(`${f}.bt output does not show whether events were lost or the run ended`);
  const ended = w.detached && running > 0 ? { ended: "detached" as const } : {};
  return why.length ? { ...ended, complete: false, incomplete: why } : { ...ended, complete: true };
}

/** The format a file's first meaningful line shows; undefined while only blank or "Attaching" lines were seen. */
export function sniff(line: string): Exclude<Format, "auto"> | undefined {
  if (line.trim() === "" || /^Attaching \d+ probes?\.\.\./.test(line)) return undefined;
  if (/^\{"type": "(printf|attached_probes|lost_events)", "data": /.test(line)) return "bpftrace";
  // the program's text lines (format 1): its reader says which format it reads
  if (/^[RCXFEMS+]\t\d+\t/.test(line) || /^Q\t\d+$/.test(line)) return "bpftrace";
  return snoopHeader(line) ?? "strace";
}

/** Every format trace-parse reads is a text of lines. */
function deliver(r: TraceReader, text: string, no: number, full?: number): void {
  if (r.input !== "lines") throw new Error(`a reader of ${r.input} in trace-parse`);
  r.line(text, no, full);
}

export async function parseFiles(tell: Tell, opts: ParseOptions, writer = new RecordWriter()): Promise<number> {
  const files = opts.files.length ? opts.files : ["-"];
  const ff = opts.ff ?? (files.length > 1 && files.every((f) => /\.\d+$/.test(f)));
  const watch = new EndWatch();
  const emit = (rec: TraceRecord) => {
    if (opts.strict && rec.type === "unparsed") {
      const name = rec.file === "-" ? "<stdin>" : rec.file;
      // frames are not lines: where one begins is its byte offset
      throw new UserError(rec.offset !== undefined ? `${name}: byte ${rec.offset} (frame ${rec.line}): ${rec.reason}`
        : `${name}:${rec.line}: ${rec.reason}: ${rec.text.slice(0, 200)}`);
    }
    writer.write(rec);
  };
  // only strace's text shows where each process ended
  const emitStrace = (rec: TraceRecord) => { watch.record(rec); emit(rec); };
  const readers = new Map<string, TraceReader>();
  let header = false;
  const writeHeader = (format: Exclude<Format, "auto">) => {
    if (header) return;
    header = true;
    const run: TraceRecord = { type: "run", v: RECORD_VERSION, tracer: format === "strace" || format === "ebpf" ? format : "bpftrace", sources: files };
    if (format !== "strace" && format !== "bpftrace" && format !== "ebpf") run.format = format;
    if (opts.cwd) run.cwd = opts.cwd;
    if (opts.date) run.date = opts.date;
    writer.write(run);
  };
  const readerFor = (format: Exclude<Format, "auto">) => {
    let r = readers.get(format);
    if (!r) {
      r = format === "strace" ? new Assembler(emitStrace, opts)
        : format === "bpftrace" ? new BpfAssembler(emit, { cwd: opts.cwd })
          : format === "ebpf" ? new RingFileReader(emit, { cwd: opts.cwd })
            : new SnoopReader(format as SnoopTool, emit);
      readers.set(format, r);
    }
    return r;
  };

  let current: TraceReader | undefined;
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
    for (const h of held) deliver(r, h.text, h.no, h.full);
    held = [];
  };

  // every file is fed through one feed: the eBPF loader's frames (told by the first bytes) straight to
  // their reader; text through the line splitter, its lines to the format's reader once the first ones told which
  const maxLine = opts.maxLine ?? DEFAULT_MAX_LINE;
  let feed: Feed | undefined;
  let first: Buffer[] = [];
  const feedFor = (frames: boolean) => {
    if (frames) decide("ebpf");
    else if (opts.format && opts.format !== "auto") decide(opts.format);
    feed = frames ? new Feed(current as RingFileReader) : new Feed({ input: "lines", line }, maxLine);
    for (const b of first) feed.push(b);
    first = [];
  };
  const line = (text: string, no: number, full?: number) => {
    if (current) { deliver(current, text, no, full); return; }
    const f = full === undefined ? sniff(text) : "strace";
    held.push({ text, no, full });
    if (f) decide(f);
    else if (held.length > 1000) decide("strace");
  };
  const bad = await readChunks(tell, files, {
    start(file) {
      fileName = file;
      const pid = ff ? /\.(\d+)$/.exec(file) : null;
      filePid = pid ? Number(pid[1]) : null;
      current = undefined;
      held = [];
      first = [];
      feed = undefined;
      before = unparsedNow();
      if (opts.format && opts.format !== "auto") feedFor(opts.format === "ebpf");
    },
    chunk: (bytes) => {
      if (feed) { feed.push(bytes); return; }
      // the loader's frames begin with the length and type of its ready frame: six bytes tell
      first.push(bytes);
      const head = first.length === 1 ? bytes : Buffer.concat(first);
      if (head.length >= 6) feedFor(framesAhead(head));
    },
    batch: async () => { await writer.flush(); return !writer.closed; },
    end(_file, name) {
      if (!feed) feedFor(false);
      feed!.close();
      if (!current && held.length) decide("strace");
      if (current instanceof RingFileReader) {
        // what the file's end shows (a frame cut, an end frame missing) is said now, under its name
        const frames = current;
        const [cuts, notes] = [frames.cutRuns, frames.endNotes];
        frames.endFile();
        const n = unparsedNow() - before - (frames.endNotes - notes);
        if (n > 0) tell.warn(`${name}: ${n} frame${n === 1 ? "" : "s"} of the eBPF loader not understood`);
        if (frames.cutRuns > cuts) tell.warn(`${name}: the eBPF loader's output ends before its end frame: the run was cut short`);
        return;
      }
      const n = unparsedNow() - before;
      if (n > 0) tell.warn(`${name}: ${n} line${n === 1 ? "" : "s"} not understood`);
    },
  });
  writeHeader(opts.format && opts.format !== "auto" ? opts.format : "strace");
  const counts = { lines: 0, records: 0, unparsed: 0 };
  let lost = 0;
  watch.atEnd = true;
  for (const r of readers.values()) {
    r.end();
    counts.lines += r.counts.lines; counts.records += r.counts.records; counts.unparsed += r.counts.unparsed;
    lost += r.lost ?? 0;
  }
  const frames = readers.get("ebpf") as RingFileReader | undefined;
  // as trace-run's end record has them: every kind once one was lost
  const kinds = Object.entries(frames?.lostKinds ?? {}).filter(([k, n]) => k !== "events" && n > 0);
  const lostKinds = frames && (frames.lost > 0 || kinds.length) ? { lostKinds: { events: frames.lost, ...Object.fromEntries(kinds) } } : {};
  writer.write({ type: "end", ...counts, ...(readers.has("bpftrace") || frames ? { lost } : {}), ...lostKinds, ...completeness(new Set(readers.keys()), counts, lost, watch, frames) });
  await writer.end();
  if (writer.error) throw writer.error;
  return bad ? EXIT_TROUBLE : EXIT_OK;
}
