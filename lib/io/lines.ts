// Splits a byte stream into lines, counting them and bounding their length so that one giant line
// cannot exhaust memory. A line ends with LF or CRLF (logs and records copied through Windows). Bytes that are not UTF-8 survive (see bytes.ts). Work is done a chunk at a
// time: the caller handles a batch of lines, then awaits its output before the next chunk is read.

import { isAscii } from "node:buffer";
import { decodeBytes } from "./bytes.js";

export const DEFAULT_MAX_LINE = 1 << 20;
const PIECE = 1 << 16;
/** How much of an over-long line is kept in its `unparsed` record. */
export const KEEP_OF_LONG_LINE = 4096;

export interface Line {
  text: string;
  no: number;                   // 1-based line number
  fullLength?: number;          // set when the line was longer than the limit and `text` is its start
}

export class LineSplitter {
  private carry: Buffer[] = [];
  private carryLen = 0;
  private overflow = -1;         // >= 0: inside an over-long line, this many bytes so far
  private overflowHead = "";
  no = 0;
  bytes = 0;

  constructor(private readonly maxLine = DEFAULT_MAX_LINE) {}

  /** Lines completed by this chunk. */
  push(chunk: Buffer): Line[] {
    this.bytes += chunk.length;
    const out: Line[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      if (this.overflow >= 0 || this.carryLen > 0) {
        this.finishCarried(chunk, start, nl, out);
        start = nl + 1;
        continue;
      }
      // the common case: the rest of the chunk up to its last newline is whole lines
      const last = chunk.lastIndexOf(10);
      this.wholeLines(chunk, start, last, out);
      start = last + 1;
      break;
    }
    if (start < chunk.length) this.keep(chunk.subarray(start));
    return out;
  }

  /** The last line when the input does not end with a newline. */
  end(): Line[] {
    const out: Line[] = [];
    if (this.overflow >= 0 || this.carryLen > 0) this.finishCarried(Buffer.alloc(0), 0, 0, out);
    return out;
  }

  /** Lines in b[start, end) (end is a newline), decoded in pieces of about 64 KiB: V8 makes small
   *  strings many times faster than large ones. */
  private wholeLines(b: Buffer, start: number, end: number, out: Line[]): void {
    while (start < end) {
      let stop = end;
      if (end - start > PIECE) {
        stop = b.lastIndexOf(10, start + PIECE);
        if (stop < start) stop = b.indexOf(10, start + PIECE);     // one line longer than a piece
        if (stop < 0 || stop > end) stop = end;
      }
      this.piece(b, start, stop, out);
      start = stop + 1;
    }
    if (start === end) this.add("", out);
  }

  private piece(b: Buffer, start: number, end: number, out: Line[]): void {
    // strace prints ASCII: then a one-byte string, the cheapest there is
    const ascii = isAscii(b.subarray(start, end));
    const text = b.toString(ascii ? "latin1" : "utf8", start, end);
    if (ascii || text.indexOf("\ufffd") < 0) {
      let s = 0;
      for (;;) {
        const e = text.indexOf("\n", s);
        this.add(text.slice(s, e < 0 ? text.length : e), out);
        if (e < 0) break;
        s = e + 1;
      }
      return;
    }
    // not valid UTF-8 somewhere: decode line by line, keeping the odd bytes
    let pos = start;
    for (;;) {
      const e = b.indexOf(10, pos);
      const stop = e < 0 || e > end ? end : e;
      this.add(decodeBytes(b, pos, stop), out);
      if (stop >= end) break;
      pos = stop + 1;
    }
  }

  private add(line: string, out: Line[]): void {
    this.no++;
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    if (line.length > this.maxLine) out.push({ text: line.slice(0, KEEP_OF_LONG_LINE), no: this.no, fullLength: Buffer.byteLength(line) });
    else out.push({ text: line, no: this.no });
  }

  private keep(part: Buffer): void {
    if (this.overflow >= 0) { this.overflow += part.length; return; }
    if (this.carryLen + part.length > this.maxLine) {
      const head = Buffer.concat([...this.carry, part]);
      this.overflowHead = decodeBytes(head, 0, Math.min(head.length, KEEP_OF_LONG_LINE));
      this.overflow = head.length;
      this.carry = []; this.carryLen = 0;
      return;
    }
    this.carry.push(Buffer.from(part));     // copy: the chunk's memory may be reused
    this.carryLen += part.length;
  }

  private finishCarried(chunk: Buffer, start: number, nl: number, out: Line[]): void {
    this.no++;
    if (this.overflow >= 0) {
      out.push({ text: this.overflowHead, no: this.no, fullLength: this.overflow + (nl - start) });
      this.overflow = -1; this.overflowHead = "";
      return;
    }
    let all = Buffer.concat([...this.carry, chunk.subarray(start, nl)]);
    this.carry = []; this.carryLen = 0;
    if (all[all.length - 1] === 13) all = all.subarray(0, all.length - 1);
    if (all.length > this.maxLine) out.push({ text: decodeBytes(all, 0, KEEP_OF_LONG_LINE), no: this.no, fullLength: all.length });
    else out.push({ text: decodeBytes(all), no: this.no });
  }
}
