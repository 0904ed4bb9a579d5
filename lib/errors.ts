// How the library speaks: it throws typed errors and tells warnings through a callback the command
// hands in; it never prints and never exits (only commands/ do, through commands/cli.ts).

export const EXIT_OK = 0;
export const EXIT_NO = 1;         // "no": differences found, nothing matched when asked
export const EXIT_TROUBLE = 2;    // usage, I/O or input errors

/** An error that is the user's to fix: printed as one line, never with a stack. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = EXIT_TROUBLE) { super(message); }
}

/** What a progress indicator is shown: a label (a file's name, so hostile) and how far the work is. */
export interface ProgressSink {
  update(label: string, done: number, total?: number): void;
  done(): void;
}

/**
 * Where the library hands what it has to say while it works, as it happens (a long run's warnings are
 * not held back to its end): the command prints each, prefixed by its name and escaped.
 */
export interface Tell {
  /** One diagnostic line, without the program's name. */
  warn(msg: string): void;
  /** A tracer's own stderr line (strace's attach messages), passed on as the tracer wrote it. */
  relay?(line: string): void;
  /** Progress over long reading, where the command shows one. */
  progress?: ProgressSink;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: "No such file or directory", EACCES: "Permission denied", EPERM: "Operation not permitted", EISDIR: "Is a directory",
  ENOTDIR: "Not a directory", EMFILE: "Too many open files", ENFILE: "Too many open files in system", ENOSPC: "No space left on device",
  EDQUOT: "Disk quota exceeded", EFBIG: "File too large", EROFS: "Read-only file system", EIO: "Input/output error",
  EEXIST: "File exists", ENAMETOOLONG: "File name too long", ELOOP: "Too many levels of symbolic links", EXDEV: "Invalid cross-device link",
  EBUSY: "Device or resource busy", ETXTBSY: "Text file busy", ENXIO: "No such device or address", EBADF: "Bad file descriptor",
  EINVAL: "Invalid argument",
};

/**
 * "FILE: No space left on device" rather than Node's "ENOSPC: no space left on device, write": the
 * C library's wording, with the file when the error names one (the caller adds it when it does not).
 */
export function describe(err: NodeJS.ErrnoException, withPath = true): string {
  const text = err.code ? ERRNO_TEXT[err.code] : undefined;
  if (text) return withPath && err.path ? `${err.path}: ${text}` : text;
  return err.message;
}
