// The one reader of every tool's input: file operands in turn, "-" or none for stdin, split into
// counted, bounded lines a chunk at a time, with progress told as it goes. A file that cannot be read
// is one warning and counts as trouble; the other operands are still read.

import { createReadStream, statSync } from "node:fs";
import type { Readable } from "node:stream";
import { DEFAULT_MAX_LINE, LineSplitter } from "./lines.js";
import { UserError, describe, type Tell } from "../errors.js";

export interface LineHandler {
  /** Before a file's first line; `name` is "<stdin>" for "-". */
  start?(file: string, name: string): void;
  line(text: string, no: number, fullLength?: number): void;
  /** After each chunk's lines (flush output here); false stops reading. */
  batch?(): Promise<boolean>;
  /** After a file was read to its end. */
  end?(file: string, name: string): void;
}

const displayName = (file: string) => (file === "-" ? "<stdin>" : file);

/** Reads every operand; returns how many could not be read. */
export async function readLines(tell: Tell, files: string[], h: LineHandler, maxLine = DEFAULT_MAX_LINE): Promise<number> {
  const progress = tell.progress;
  let bad = 0;
  for (const file of files.length ? files : ["-"]) {
    const name = displayName(file);
    let input: Readable;
    let total: number | undefined;
    try {
      if (file === "-") input = process.stdin;
      else {
        total = statSync(file).size;
        input = createReadStream(file, { highWaterMark: 1 << 18 });
      }
    } catch (e) {
      tell.warn(describe(e as NodeJS.ErrnoException));
      bad++;
      continue;
    }
    h.start?.(file, name);
    const split = new LineSplitter(maxLine);
    let stopped = false;
    try {
      for await (const chunk of input) {
        for (const l of split.push(chunk as Buffer)) h.line(l.text, l.no, l.fullLength);
        if (h.batch && !(await h.batch())) { stopped = true; break; }
        progress?.update(name, split.bytes, total);
      }
      if (!stopped) for (const l of split.end()) h.line(l.text, l.no, l.fullLength);
    } catch (e) {
      if (e instanceof UserError) throw e;
      const err = e as NodeJS.ErrnoException;
      tell.warn(err.path ? describe(err) : `${name}: ${describe(err)}`);
      bad++;
    } finally {
      if (file !== "-") input.destroy();
      progress?.done();
    }
    if (stopped) break;
    h.end?.(file, name);
  }
  return bad;
}
