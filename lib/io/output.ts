// The one writer of records: JSON.stringify(rec) + "\n", batched per input chunk, with backpressure.
// A closed stdout (EPIPE, as when piped into `head`) ends the tool quietly with success.

import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { UserError, describe } from "../errors.js";

/**
 * Replaces `path` with `text` through a temporary file beside it, synced and renamed over it: a
 * reader sees the old file or the new one, never a part. A failure (a full disk, a directory) leaves
 * the old file and no temporary, and is an error naming `path`.
 */
export function replaceFile(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "w", 0o644);
    writeFileSync(fd, text);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) try { closeSync(fd); } catch { /* already failed */ }
    rmSync(tmp, { force: true });
    throw new UserError(`${path}: ${describe(e as NodeJS.ErrnoException, false)}`);
  }
}

export class RecordWriter {
  // records are encoded straight into a buffer: cheaper than joining strings and encoding them later
  private buf = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  closed = false;
  error: Error | undefined;      // a write failure other than a closed pipe: the caller reports it

  constructor(private readonly out: Writable = process.stdout) {
    out.on("error", (err: NodeJS.ErrnoException) => {
      this.closed = true;
      if (err.code !== "EPIPE" && err.code !== "ERR_STREAM_DESTROYED") this.error = err;
    });
  }

  write(rec: object): void {
    this.writeLine(JSON.stringify(rec));
  }

  /** A record already in JSON text (passed through unchanged). */
  writeLine(s: string): void {
    if (this.used + s.length * 3 + 1 > this.buf.length) this.grow(s.length * 3 + 1);
    this.used += this.buf.write(s, this.used);
    this.buf[this.used++] = 10;
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + need));
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }

  /** Hands the batch to the stream; waits while the reader downstream is behind. */
  async flush(): Promise<void> {
    if (this.used === 0) return;
    // the stream keeps the chunk until it is written, so it gets a copy and our buffer is reused
    const chunk = Buffer.from(this.buf.subarray(0, this.used));
    this.used = 0;
    if (this.closed) return;
    if (!this.out.write(chunk)) await this.drained();
  }

  /** Waits for "drain"; a closed or failed stream ends the wait too (the error handler marks it). */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.out.off("drain", done); this.out.off("close", done); this.out.off("error", done);
        resolve();
      };
      this.out.on("drain", done); this.out.on("close", done); this.out.on("error", done);
    });
  }

  /** Resolves once everything written has been handed to the OS (or stdout has closed). */
  async end(): Promise<void> {
    await this.flush();
    if (this.closed) return;
    await new Promise<void>((resolve) => this.out.write("", () => resolve()));
  }
}
