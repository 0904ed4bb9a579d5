// The file a traced name stands for: what the kernel resolved when the tracer says so (strace -yy's
// name of an opened or annotated fd), otherwise the name walked on this host (or inside a container's
// root) with lstat/readlink, so that profiles are keyed on files, not on the links that led to them;
// and the interpreter the kernel runs for a script, which no traced call names.

import { closeSync, lstatSync, openSync, readlinkSync, readSync } from "node:fs";
import { specOf, flagText } from "../trace/syscalls.js";
import type { Json, SyscallRecord } from "../io/records.js";

type Obj = { [k: string]: Json };
const isObj = (v: Json | undefined): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);
const MAX_LINKS = 40;                  // the kernel's limit (ELOOP)
const CACHE_MAX = 1 << 16;

/** The kernel's own name for the file a record acts on, when the tracer printed it. */
export function kernelPath(e: SyscallRecord): { path: string; deleted?: boolean } | undefined {
  const spec = specOf(e.syscall);
  // an open that succeeded: strace -yy names the file it returned
  if ((spec.flags !== undefined || e.syscall === "creat") && e.ok && isObj(e.retfd) && typeof e.retfd.path === "string" && e.retfd.path.startsWith("/")) {
    return e.retfd.deleted === true ? { path: e.retfd.path, deleted: true } : { path: e.retfd.path };
  }
  // a call on an fd, or on a dirfd with AT_EMPTY_PATH: the path came from its -yy annotation
  const at = spec.fd !== undefined && spec.path === undefined ? spec.fd
    : spec.emptyPath !== undefined && spec.dirfd !== undefined && e.args[spec.path ?? -1] === "" ? spec.dirfd : undefined;
  const a = at === undefined ? undefined : e.args[at];
  if (isObj(a) && typeof a.path === "string" && a.path === e.path) return a.deleted === true ? { path: a.path, deleted: true } : { path: a.path };
  return undefined;
}

/** Whether the call follows a symbolic link in its last component (open without O_NOFOLLOW, stat, exec, …). */
export function followsLast(e: SyscallRecord): boolean {
  switch (e.op) {
    case "delete": case "rename": case "link": case "symlink": case "mkdir": case "mknod": case "readlink": return false;
  }
  if (/^l(stat|chown|[gs]etxattr|listxattr|removexattr)/.test(e.syscall)) return false;
  const spec = specOf(e.syscall);
  if (spec.flags !== undefined) {
    const f = flagText(e.args[spec.flags]);
    // O_CREAT|O_EXCL never follows; O_NOFOLLOW fails on a link rather than follow it
    return !(f.indexOf("O_NOFOLLOW") >= 0 || (f.indexOf("O_CREAT") >= 0 && f.indexOf("O_EXCL") >= 0));
  }
  return !e.args.some((x) => typeof x === "string" && x.indexOf("AT_SYMLINK_NOFOLLOW") >= 0);
}

/**
 * Resolves absolute names against a file system: the host's, or a container's root file system
 * mounted at `root` (its absolute links then stay inside it). Remembered per name, bounded.
 */
export class PathWalker {
  private cache = new Map<string, string | null>();
  constructor(readonly root = "/") {}

  /**
   * The name with every link followed (the last component only when `followLast`); what does not exist
   * is kept as written below the part that does. undefined when the name cannot be resolved here: it
   * leads into /proc (whose links mean the walking process, not the traced one), or loops.
   */
  resolve(path: string, followLast: boolean): string | undefined {
    if (!path.startsWith("/")) return undefined;
    const key = (followLast ? "1" : "0") + path;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit ?? undefined;
    const out = this.walk(path, followLast);
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(key, out ?? null);
    return out;
  }

  /**
   * The interpreter of a script, from its "#!" line as the kernel reads it (binfmt_script: up to 255
   * bytes, the interpreter then one optional argument); undefined for anything else or what cannot be read.
   */
  interpreter(path: string): { interpreter: string; arg?: string } | undefined {
    const key = "#" + path;
    if (this.scripts.has(key)) return this.scripts.get(key) ?? undefined;
    const out = this.shebang(path);
    if (this.scripts.size >= CACHE_MAX) this.scripts.clear();
    this.scripts.set(key, out ?? null);
    return out;
  }

  private scripts = new Map<string, { interpreter: string; arg?: string } | null>();

  private shebang(path: string): { interpreter: string; arg?: string } | undefined {
    const prefix = this.root === "/" ? "" : this.root.replace(/\/+$/, "");
    const buf = Buffer.alloc(256);
    let n = 0;
    try {
      const fd = openSync(prefix + path, "r");
      try { n = readSync(fd, buf, 0, buf.length, 0); } finally { closeSync(fd); }
    } catch { return undefined; }
    return parseShebang(buf.subarray(0, n));
  }

  private walk(path: string, followLast: boolean): string | undefined {
    const prefix = this.root === "/" ? "" : this.root.replace(/\/+$/, "");
    let todo = path.split("/").filter((c) => c !== "" && c !== ".");
    const done: string[] = [];
    let links = 0, missing = false;
    while (todo.length) {
      const c = todo.shift()!;
      if (c === "..") { done.pop(); continue; }
      if (done.length === 0 && c === "proc") return undefined;
      done.push(c);
      if (missing || (todo.length === 0 && !followLast)) continue;
      let target: string;
      try {
        const here = prefix + "/" + done.join("/");
        if (!lstatSync(here).isSymbolicLink()) continue;
        target = readlinkSync(here);
      } catch { missing = true; continue; }      // the rest does not exist here: kept as named
      if (++links > MAX_LINKS) return undefined;
      done.pop();
      const parts = target.split("/").filter((x) => x !== "" && x !== ".");
      if (target.startsWith("/")) done.length = 0;
      todo = [...parts, ...todo];
    }
    return "/" + done.join("/");
  }
}

/** The interpreter and optional argument of a "#!" line (bytes as read from the file's start). */
export function parseShebang(b: Buffer): { interpreter: string; arg?: string } | undefined {
  if (b.length < 3 || b[0] !== 0x23 || b[1] !== 0x21) return undefined;
  let end = b.indexOf(0x0a);
  if (end < 0) end = b.length;                       // the kernel takes a line cut at its buffer as it is
  const line = b.subarray(2, end).toString("latin1").replace(/[ \t]+$/, "");
  const m = /^[ \t]*([^ \t]+)(?:[ \t]+(.*))?$/.exec(line);
  if (!m || !m[1].startsWith("/")) return undefined;   // a relative interpreter is the caller's cwd's: not guessed
  return m[2] ? { interpreter: Buffer.from(m[1], "latin1").toString(), arg: Buffer.from(m[2], "latin1").toString() } : { interpreter: Buffer.from(m[1], "latin1").toString() };
}
