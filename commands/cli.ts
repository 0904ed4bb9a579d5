// What every trace-* command shares: its name on stderr messages, exit codes, the yargs preamble,
// version, operands, and turning errors into one line (a stack trace only with LEASTPRIV_DEBUG set).

import { readFileSync, readlinkSync, statSync, writeSync } from "node:fs";
import yargs, { type Argv } from "yargs";
import { hideBin } from "yargs/helpers";
import { escapeText } from "../lib/render.js";

export { EXIT_OK, EXIT_NO, EXIT_TROUBLE, UserError, describe } from "../lib/errors.js";
import { EXIT_OK, EXIT_TROUBLE, UserError, describe, type Tell } from "../lib/errors.js";
import { Progress } from "./progress.js";

/** A failure already told on stderr (the reader says which file it could not read): only the exit status is left. */
export class Reported extends UserError {
  constructor(exitCode = EXIT_TROUBLE) { super("", exitCode); }
}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL(import.meta.url.includes("/dist/") ? "../../package.json" : "../package.json", import.meta.url), "utf8"));
  return pkg.version as string;
}

/** One diagnostic line: the message escaped (lib/render.ts), since it may name a file a traced program chose. */
export function warn(prog: string, msg: string): void {
  process.stderr.write(`${prog}: ${escapeText(msg)}\n`);
}

/** How this command hears the library: its warnings on stderr under its name, a tracer's lines as they are (escaped), progress on a terminal. */
export function tell(prog: string): Tell {
  return {
    warn: (msg) => warn(prog, msg),
    relay: (line) => { process.stderr.write(escapeText(line) + "\n"); },
    progress: new Progress(prog),
  };
}

/** The common yargs setup: usage errors print one line plus a hint and exit 2. */
export function cli(prog: string, usage: string): Argv {
  return yargs(hideBin(process.argv))
    .scriptName(prog)
    .usage(usage)
    .version(version())
    .help("help")
    .alias("h", "help")
    .completion("completion", false)          // "trace-x completion >> ~/.bashrc" (bash and zsh)
    .strictOptions()
    .parserConfiguration({ "greedy-arrays": false })   // "--path GLOB FILE": FILE is an operand
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      // only argument checking runs inside yargs, so whatever fails here is a usage error
      process.stderr.write(`${prog}: ${escapeText(String(msg ?? err?.message))}\nTry '${prog} --help' for more information.\n`);
      process.exit(EXIT_TROUBLE);
    });
}

/**
 * Runs a command's job, turning any failure into one stderr line and exit code 2 (`failure`). A
 * failed write to standard output is a failure whatever the job returns, told once, naming the file.
 */
export async function main(prog: string, job: () => Promise<number>, failure = EXIT_TROUBLE): Promise<void> {
  // a reader that went away (| head) is a quiet success, whichever way the tool writes
  let readerGone = false;
  let outError: NodeJS.ErrnoException | undefined;
  wholeWrites(process.stdout);
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") readerGone = true;
    else outError ??= err;
  });
  let code: number;
  try {
    code = await job();
    await settled(process.stdout);
  } catch (e) {
    await settled(process.stdout);
    const err = e as NodeJS.ErrnoException;
    // the job may throw the same write error it was told of, or fail writing to the stream after it: said below, once
    if (!(outError && (err === outError || err.code === "ERR_STREAM_DESTROYED" || (err.code === outError.code && err.syscall === "write")))) {
      if (process.env.LEASTPRIV_DEBUG) process.stderr.write(String(err.stack) + "\n");
      if (!(err instanceof Reported)) warn(prog, err instanceof UserError ? err.message : describe(err));
      process.exitCode = err instanceof UserError ? err.exitCode : failure;
      if (outError) warn(prog, `${stdoutName()}: ${describe(outError, false)}`);
      return;
    }
    code = failure;
  }
  if (outError) {
    warn(prog, `${stdoutName()}: ${describe(outError, false)}`);
    process.exitCode = failure;
    return;
  }
  process.exitCode = readerGone ? EXIT_OK : code;
}

/**
 * Standard output on a file (or a device) is written by Node with one write(2) per chunk, and what a
 * short write left (a disk that fills up) is dropped without an error: write all of it, or fail.
 */
function wholeWrites(out: NodeJS.WriteStream): void {
  if (out.constructor.name !== "SyncWriteStream") return;     // pipes and terminals write all or fail
  const fd = (out as unknown as { fd: number }).fd;
  (out as unknown as { _write: (chunk: Buffer, enc: string, cb: (e?: Error) => void) => void })._write = (chunk, _enc, cb) => {
    try {
      for (let off = 0; off < chunk.length;) {
        const n = writeSync(fd, chunk, off, chunk.length - off);
        if (n <= 0) throw Object.assign(new Error("write wrote nothing"), { code: "EIO", syscall: "write" });
        off += n;
      }
    } catch (e) { cb(e as Error); return; }
    cb();
  };
}

/** Resolves once what was written to `out` has been handed on, or has failed (its error event then run). */
async function settled(out: NodeJS.WriteStream): Promise<void> {
  if (!out.destroyed && !out.writableEnded) await new Promise<void>((resolve) => out.write("", () => resolve()));
  await new Promise((resolve) => setImmediate(resolve));
}

/** "standard output", with the file it was redirected to when it is one (a pipe has no name worth giving). */
function stdoutName(): string {
  try {
    const st = statSync("/proc/self/fd/1");
    if (st.isFile() || st.isCharacterDevice() || st.isBlockDevice()) return `${readlinkSync("/proc/self/fd/1")} (standard output)`;
  } catch { /* no /proc, or fd 1 closed */ }
  return "standard output";
}
