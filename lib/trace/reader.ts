// The one shape of a tracer's reader (strace's text, the bpftrace program's lines, bpftrace's own
// tools, a binary framing of events), its shared shell, and the one way to feed it its input.

import { DEFAULT_MAX_LINE, LineSplitter } from "../io/lines.js";
import type { TraceRecord } from "../io/records.js";
import { Resolver } from "./resolver.js";

export type Emit = (rec: TraceRecord) => void;

export interface ReaderCounts { lines: number; records: number; unparsed: number }

export interface ReaderOptions {
  cwd?: string;            // working directory of the first process, when the trace does not say
}

interface ReaderFace {
  /** The input now being read (its records' `unparsed.file`). */
  file: string;
  /** What the end record carries: input units read (lines, or frames), records written, units not understood. */
  readonly counts: ReaderCounts;
  /** Events the tracer said it lost, and what they took by kind (a tracer that can lose events). */
  lost?: number;
  lostKinds?: { [kind: string]: number };
  /** A new input (a file; `pid` for strace -ff files NAME.PID): whatever was cut off at the last one's end is reported. */
  startFile(file: string, pid?: number | null): void;
  /** The end of all input: whatever is still held or unfinished is written. */
  end(): void;
  /** Pids of the processes the trace shows alive now. */
  livePids(): number[];
}

/** A reader of text lines, fed through the line splitter. */
export interface LineReader extends ReaderFace {
  readonly input: "lines";
  /** One line without its newline; `fullLength` is set when the splitter cut it. */
  line(text: string, no: number, fullLength?: number): void;
}

/** A reader of a binary framing (length-prefixed frames): fed the bytes as they came, it keeps what a chunk cut. */
export interface ByteReader extends ReaderFace {
  readonly input: "bytes";
  chunk(bytes: Buffer): void;
}

export type TraceReader = LineReader | ByteReader;

/** What a feed needs of its reader: how it takes its input, and the one method that takes it. */
export type Fed = Pick<LineReader, "input" | "line"> | Pick<ByteReader, "input" | "chunk">;

/** What every reader shares: its counts and file, emitting and `unparsed` records, live pids, a Resolver. */
export abstract class ReaderShell {
  file = "-";
  readonly counts: ReaderCounts = { lines: 0, records: 0, unparsed: 0 };
  protected readonly live = new Set<number>();
  protected resolver: Resolver;

  constructor(protected readonly emitRaw: Emit, opts: ReaderOptions = {}) {
    this.resolver = new Resolver(opts.cwd ?? null);
  }

  livePids(): number[] { return [...this.live]; }

  protected emit(rec: TraceRecord): void {
    this.counts.records++;
    this.emitRaw(rec);
  }

  /** An input unit not understood: kept (up to its cut) in an `unparsed` record, never dropped. A unit of a
   *  binary framing is numbered too, and `offset` says where it begins in bytes. */
  protected unparsed(line: number, text: string, reason: string, truncated?: number, file = this.file, offset?: number): void {
    this.counts.unparsed++;
    const rec: TraceRecord = offset === undefined ? { type: "unparsed", file, line, text, reason } : { type: "unparsed", file, line, offset, text, reason };
    if (truncated !== undefined) rec.truncated = truncated;
    this.emit(rec);
  }
}

/**
 * Feeds a reader its input a chunk at a time, as a tracer's pipe, a file or a test hands it over: a
 * line reader through one line splitter (numbering its lines), a byte reader the bytes as they are.
 */
export class Feed {
  private readonly split?: LineSplitter;
  private seen = 0;

  constructor(readonly reader: Fed, maxLine = DEFAULT_MAX_LINE) {
    if (reader.input === "lines") this.split = new LineSplitter(maxLine);
  }

  /** Bytes fed so far. */
  get bytes(): number { return this.split ? this.split.bytes : this.seen; }

  push(chunk: Buffer): void {
    const r = this.reader;
    if (r.input === "bytes") { this.seen += chunk.length; r.chunk(chunk); return; }
    for (const l of this.split!.push(chunk)) r.line(l.text, l.no, l.fullLength);
  }

  /** The input ended: its last line, when no newline ended it. The reader's own end() is the caller's. */
  close(): void {
    const r = this.reader;
    if (r.input === "lines") for (const l of this.split!.end()) r.line(l.text, l.no, l.fullLength);
  }
}

/** Reads one whole input into `reader` and ends it: for tests and small inputs. */
export function readAll<R extends TraceReader>(reader: R, input: Buffer | string, file = "-", pid: number | null = null): R {
  reader.startFile(file, pid);
  const feed = new Feed(reader);
  feed.push(Buffer.isBuffer(input) ? input : Buffer.from(input, "utf8"));
  feed.close();
  reader.end();
  return reader;
}
