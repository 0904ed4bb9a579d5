// The eBPF loader's frames read back from a file (trace-run --backend ebpf --raw, then trace-parse): the
// framing is checked before the ring reader decodes it, since a file may be cut, corrupted or not frames.
//
// A frame has no mark to find the next one by: once a length is one no frame has, whatever follows can
// only be guessed at, so it is said in one `unparsed` record (where it begins, its first bytes, how many
// bytes) instead of being decoded into records it may not hold. Each file is a run of its own loader.

import { FRAME_TYPES, RingReader, RING_FORMATS } from "./ring-reader.js";
import { UserError } from "../errors.js";
import type { TraceRecord } from "../io/records.js";
import type { ByteReader, Emit, ReaderCounts, ReaderOptions } from "../trace/reader.js";

/** Longer than any frame the loader writes (its largest: a call with its pieces, about 20 KiB). */
export const FRAME_MAX = 1 << 16;
const HDR = 32;
const READY_MIN = HDR + 48;
const R = 82, Q = 81;

/** Whether these first bytes of an input are the start of the loader's output: a ready frame's length and type. */
export function framesAhead(b: Buffer): boolean {
  if (b.length < 6) return false;
  const len = b.readUInt32LE(0);
  return len >= READY_MIN && len <= FRAME_MAX && b[4] === R && b[5] === 0;
}

const display = (file: string) => (file === "-" ? "<stdin>" : file);
const FOREIGN = "not the leastpriv eBPF loader's output: it does not begin with the loader's ready frame";
const AFTER_END = "bytes after the loader's end frame (an input holds one run of the loader)";

function badLength(len: number): string | undefined {
  if (len > FRAME_MAX) return `a frame length of ${len} bytes, longer than any frame the loader writes`;
  if (len < HDR) return `a frame length of ${len} bytes, shorter than the loader's frame header`;
  return undefined;
}

/** Files of the loader's frames, each read by a ring reader of its own once its framing is checked. */
export class RingFileReader implements ByteReader {
  readonly input = "bytes";
  file = "-";
  lost = 0;
  readonly lostKinds: { [kind: string]: number } = {};
  /** Inputs that ended before the loader's end frame (cut runs). */
  cutRuns = 0;
  /** Of the `unparsed` records, those that only say that an input ends before its end frame. */
  endNotes = 0;
  private done: ReaderCounts = { lines: 0, records: 0, unparsed: 0 };
  private r: RingReader | undefined;     // this file's
  private open = false;
  private pos = 0;                      // bytes of this file so far
  private next = 0;                     // where the next frame's length is
  // a frame head not yet checked (fewer bytes than it takes): passed on only once it is
  private unsent: Buffer | undefined;
  private ended = false;                // its end frame was passed
  private broken: { at: number; reason: string; head: Buffer } | undefined;   // from `at` on, nothing is read

  constructor(private readonly emit: Emit, private readonly opts: ReaderOptions = {}) {}

  get counts(): ReaderCounts {
    const c = this.r?.counts;
    return c ? { lines: this.done.lines + c.lines, records: this.done.records + c.records, unparsed: this.done.unparsed + c.unparsed } : { ...this.done };
  }

  livePids(): number[] { return this.r?.livePids() ?? []; }

  startFile(file: string): void {
    this.endFile();
    this.file = file;
    this.r = new RingReader((rec: TraceRecord) => this.emit(rec), { cwd: this.opts.cwd, file });
    this.r.startFile(file);
    this.open = true;
    this.pos = 0; this.next = 0; this.unsent = undefined; this.ended = false; this.broken = undefined;
  }

  chunk(c: Buffer): void {
    if (!this.open) this.startFile(this.file);
    let b = c, bStart = this.pos;       // b's offset in the input
    this.pos += c.length;
    if (this.broken) { this.keep(c); return; }
    if (this.unsent) { b = Buffer.concat([this.unsent, c]); bStart -= this.unsent.length; this.unsent = undefined; }
    let good = b.length;
    while (this.next < this.pos) {
      // the first frame is judged by its type and its format (40 bytes), the others by their length and type
      const need = this.next === 0 ? 4 + HDR + 4 : 6;
      const at = this.next - bStart;
      if (this.next + need > this.pos) { good = at; this.unsent = Buffer.from(b.subarray(at)); break; }
      const len = b.readUInt32LE(at);
      const why = this.check(b, at, len);
      if (why) {
        good = at;
        this.broken = { at: this.next, reason: why, head: Buffer.alloc(0) };
        this.keep(b.subarray(at));
        break;
      }
      if (b[at + 4] === Q) this.ended = true;
      this.next += 4 + len;
    }
    if (good > 0) this.r!.chunk(good === b.length ? b : b.subarray(0, good));
  }

  /** Why the frame whose length is at `at` cannot be one of the loader's (a framing from which nothing after can be trusted). */
  private check(b: Buffer, at: number, len: number): string | undefined {
    const type = b.readUInt16LE(at + 4);
    if (this.next === 0) {
      if (len < READY_MIN || len > FRAME_MAX || type !== R) return FOREIGN;
      const format = b.readUInt32LE(at + 4 + HDR);
      if (!RING_FORMATS.includes(format)) throw new UserError(`${display(this.file)}: frame format ${format} of the eBPF loader: this trace-parse reads formats ${RING_FORMATS.join(" and ")} (read it with the leastpriv version that wrote it)`);
      return undefined;
    }
    if (this.ended) return AFTER_END;
    return badLength(len) ?? (FRAME_TYPES.has(type) ? undefined : `a frame of type ${type}, not one the loader writes`);
  }

  /** Bytes not read as frames: the first of them kept for the record. */
  private keep(b: Buffer): void {
    const k = this.broken!;
    if (k.head.length < 64) k.head = Buffer.concat([k.head, b.subarray(0, 64 - k.head.length)]);
  }

  /** The end of this file: what could not be read, and an end frame missing, said where they are. */
  endFile(): void {
    if (!this.open) return;
    this.open = false;
    const r = this.r!;
    const u = this.unsent;
    // a head too short to be checked: the input was cut in it (the ring reader says so at its end), or it is
    // not the loader's output, or not a frame
    if (u) {
      const why = this.next === 0 ? (u.length >= 6 && !framesAhead(u) ? FOREIGN : undefined)
        : this.ended ? AFTER_END : u.length >= 4 ? badLength(u.readUInt32LE(0)) : undefined;
      if (why) this.broken = { at: this.next, reason: why, head: u };
      else r.chunk(u);
    }
    const k = this.broken;
    if (k) {
      const n = this.pos - k.at;
      r.report(k.at, k.head, n, `${k.reason}: the ${n} byte${n === 1 ? "" : "s"} from here to the end ${n === 1 ? "is" : "are"} not read`);
    }
    r.end();
    // an input that is not the loader's output at all is no cut run
    if (!this.ended && k?.reason !== FOREIGN) {
      this.cutRuns++;
      // said already when a frame was cut or could not be read; otherwise the input ends between frames
      if (!k && !u && this.next === this.pos) {
        this.endNotes++;
        r.report(this.pos, Buffer.alloc(0), 0, this.pos === 0 ? "the input is empty: the loader's output has at least its ready and end frames"
          : "the loader's output ends here, before its end frame: the run was cut short");
      }
    }
    const c = r.counts;
    this.done = { lines: this.done.lines + c.lines, records: this.done.records + c.records, unparsed: this.done.unparsed + c.unparsed };
    this.lost += r.lost;
    for (const [kind, n] of Object.entries(r.lostKinds)) this.lostKinds[kind] = (this.lostKinds[kind] ?? 0) + n;
    this.r = undefined;
  }

  end(): void { this.endFile(); }
}
