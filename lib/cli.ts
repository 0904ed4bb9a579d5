// What every trace-* command shares: its name on stderr messages, exit codes, the yargs preamble,
// version, operands, and turning errors into one line (a stack trace only with LEASTPRIV_DEBUG set).

import { readFileSync } from "node:fs";
import yargs, { type Argv } from "yargs";
import { hideBin } from "yargs/helpers";
import { escapeText } from "./render.js";

export const EXIT_OK = 0;
export const EXIT_NO = 1;         // "no": differences found, nothing matched when asked
export const EXIT_TROUBLE = 2;    // usage, I/O or input errors

/** An error that is the user's to fix: printed as one line, never with a stack. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = EXIT_TROUBLE) { super(message); }
}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL(import.meta.url.includes("/dist/") ? "../../package.json" : "../package.json", import.meta.url), "utf8"));
  return pkg.version as string;
}

/** One diagnostic line: the message escaped (lib/render.ts), since it may name a file a traced program chose. */
export function warn(prog: string, msg: string): void {
  process.stderr.write(`${prog}: ${escapeText(msg)}\n`);
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

/** Runs a command's job, turning any failure into one stderr line and exit code 2. */
export async function main(prog: string, job: () => Promise<number>, failure = EXIT_TROUBLE): Promise<void> {
  // a reader that went away (| head) is a quiet success, whichever way the tool writes
  let readerGone = false;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") { readerGone = true; process.exitCode = EXIT_OK; }
    else { warn(prog, `standard output: ${describe(err)}`); process.exitCode = EXIT_TROUBLE; }
  });
  try {
    process.exitCode = await job();
    if (readerGone) process.exitCode = EXIT_OK;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (process.env.LEASTPRIV_DEBUG) process.stderr.write(String(err.stack) + "\n");
    warn(prog, err instanceof UserError ? err.message : describe(err));
    process.exitCode = err instanceof UserError ? err.exitCode : failure;
  }
}

/** "FILE: No such file or directory" rather than Node's "ENOENT: no such file…, open 'FILE'". */
export function describe(err: NodeJS.ErrnoException): string {
  const text: Record<string, string> = {
    ENOENT: "No such file or directory", EACCES: "Permission denied", EISDIR: "Is a directory",
    ENOTDIR: "Not a directory", EMFILE: "Too many open files",
  };
  if (err.code && text[err.code] && err.path) return `${err.path}: ${text[err.code]}`;
  return err.message;
}
