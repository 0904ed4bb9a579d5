// The one reader of every tool's input: file operands in turn, "-" or none for stdin, split into
// counted, bounded lines a chunk at a time, with progress told as it goes. A file that cannot be read
// is one warning and counts as trouble; the other operands are still read.

import { createReadStream, statSync } from "node:fs";
import type { Readable } from "node:stream";
import { DEFAULT_MAX_LINE, LineSplitter } from "./lines.js";
import { UserError, describe, type Tell } from "../errors.js";

export interface ChunkHandler {
  /** Before a file's first chunk; `name` is "<stdin>" for "-". */
  start?(file: string, name: string): void;
  chunk(bytes: Buffer): void;
  /** After each chunk (flush output here); false stops reading. */
  batch?(): Promise<boolean>;
  /** After a file was read to its end. */
  end?(file: string, name: string): void;
}

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

/** Reads every operand a chunk at a time; returns how many could not be read. */
export async function readChunks(tell: Tell, files: string[], h: ChunkHandler): Promise<number> {
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
    let stopped = false;
    let done = 0;
    try {
      for await (const chunk of input) {
        h.chunk(chunk as Buffer);
        done += (chunk as Buffer).length;
        if (h.batch && !(await h.batch())) { stopped = true; break; }
        progress?.update(name, done, total);
      }
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

/** Reads every operand as lines; returns how many could not be read. */
export async function readLines(tell: Tell, files: string[], h: LineHandler, maxLine = DEFAULT_MAX_LINE): Promise<number> {
  let split = new LineSplitter(maxLine);
  return readChunks(tell, files, {
    start(file, name) { split = new LineSplitter(maxLine); h.start?.(file, name); },
    chunk(bytes) { for (const l of split.push(bytes)) h.line(l.text, l.no, l.fullLength); },
    batch: h.batch && (() => h.batch!()),
    // a last line without its newline: only when the file was read to its end
    end(file, name) { for (const l of split.end()) h.line(l.text, l.no, l.fullLength); h.end?.(file, name); },
  });
}
