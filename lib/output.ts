// The one writer of records: JSON.stringify(rec) + "\n", batched per input chunk, with backpressure.
// A closed stdout (EPIPE, as when piped into `head`) ends the tool quietly with success.

import type { Writable } from "node:stream";

export class RecordWriter {
  private buf = "";
  closed = false;
  error: Error | undefined;      // a write failure other than a closed pipe: the caller reports it

  constructor(private readonly out: Writable = process.stdout) {
    out.on("error", (err: NodeJS.ErrnoException) => {
      this.closed = true;
      if (err.code !== "EPIPE" && err.code !== "ERR_STREAM_DESTROYED") this.error = err;
    });
  }

  write(rec: object): void {
    this.buf += JSON.stringify(rec) + "\n";
  }

  /** Hands the batch to the stream; waits while the reader downstream is behind. */
  async flush(): Promise<void> {
    if (this.closed || this.buf === "") { this.buf = ""; return; }
    const s = this.buf;
    this.buf = "";
    if (!this.out.write(s)) await this.drained();
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
