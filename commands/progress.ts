// A one-line progress indicator on stderr for long work, shown only when stderr is a terminal.

import type { ProgressSink } from "../lib/errors.js";
import { escapeText } from "../lib/render.js";

export class Progress implements ProgressSink {
  private last = 0;
  private shown = false;
  constructor(private readonly prog: string, private readonly enabled = !!process.stderr.isTTY) {}

  update(label: string, done: number, total?: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 250) return;
    this.last = now;
    const pct = total ? ` ${Math.min(100, Math.floor((done / total) * 100))}%` : "";
    const mb = done > 0 ? ` (${(done / 1048576).toFixed(1)} MB)` : "";
    process.stderr.write(`\r\x1b[K${this.prog}: ${escapeText(label)}${pct}${mb}`);      // the label is a file's name
    this.shown = true;
  }

  done(): void {
    if (this.shown) process.stderr.write("\r\x1b[K");
    this.shown = false;
  }
}
