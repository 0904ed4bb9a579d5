// Turns a parsed call into a classified, resolved syscall record, keeping the little state that needs:
// per process a working directory and an fd table (shared between threads, copied on fork), so that
// relative, dirfd-relative and fd-only accesses get absolute paths and sockets get their peers.

import { flagText, openOp, specOf, type Spec } from "./syscalls.js";
import { CONNECT_UNDER_WAY } from "./errno.js";
import { normalize, resolvePath } from "./paths.js";
import type { Addr, Json, Kind, SyscallRecord } from "../io/records.js";

/** One call as a reader parsed it: its arguments and result, before resolution. */
export interface CallParts {
  args: Json[];
  closed: boolean;                 // false: the argument list or the result was cut off
  ret: number | string | null;
  hasRet: boolean;
  tooDeep?: boolean;               // the values nest deeper than the grammar takes (MAX_NESTING)
  retfd?: Json;
  errno?: string;
  errmsg?: string;
  retnote?: string;
  dur?: number;
}

interface FdInfo { path?: string; deleted?: boolean; addr?: Addr; obj?: string; cloexec?: boolean }
interface Proc { cwd: { path: string | null }; fds: Map<number, FdInfo> }

export interface CallEvent {
  pid: number | null;
  comm?: string;
  time?: number;
  name: string;
  parts: CallParts;
  incomplete?: "no-start" | "no-end";
  detached?: boolean;
  missing?: number[];        // positions in parts.args the tracer lost: nothing is derived from them
}

type Obj = { [k: string]: Json };
const isObj = (v: Json | undefined): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

export class Resolver {
  private procs = new Map<number, Proc>();
  constructor(private initialCwd: string | null = null) {}

  private proc(pid: number | null): Proc {
    const key = pid ?? -1;
    let p = this.procs.get(key);
    if (!p) {
      p = { cwd: { path: this.initialCwd }, fds: new Map() };
      this.procs.set(key, p);
    }
    return p;
  }

  hasProc(pid: number): boolean { return this.procs.has(pid); }

  /** The pid-less process (a single traced process, strace printing no pid) turns out to be `pid`. */
  adopt(pid: number): void {
    const p = this.procs.get(-1);
    if (p && !this.procs.has(pid)) { this.procs.set(pid, p); this.procs.delete(-1); }
  }

  exited(pid: number | null): void { this.procs.delete(pid ?? -1); }

  /** The tracer lost events: any process's chdir, open or close may be among them, so what is known of
   *  working directories and fds is dropped (later relative paths are cwdUnknown, fds opened before
   *  have no path) rather than trusted. */
  forget(): void {
    this.initialCwd = null;
    for (const p of this.procs.values()) { p.cwd.path = null; p.fds.clear(); }
  }

  /** Thread `by` called execve and now goes on as `leader`. */
  superseded(leader: number, by: number): void {
    const p = this.procs.get(by);
    if (p) { this.procs.set(leader, p); this.procs.delete(by); }
  }

  get liveProcesses(): number { return this.procs.size; }

  /** `parent` made `child` with these clone flags (text): the child shares or copies its cwd and fds. */
  forked(parent: number | null, child: number, flags: string): void {
    if (this.procs.has(child)) return;
    const proc = this.proc(parent);
    const threadish = flags.indexOf("CLONE_THREAD") >= 0;
    this.procs.set(child, {
      cwd: threadish || flags.indexOf("CLONE_FS") >= 0 ? proc.cwd : { path: proc.cwd.path },
      fds: threadish || flags.indexOf("CLONE_FILES") >= 0 ? proc.fds : new Map(proc.fds),
    });
  }

  record(ev: CallEvent): SyscallRecord {
    const { parts, name } = ev;
    const spec = specOf(name);
    // a non-blocking connect has begun, not failed: its peer is the socket's from now on
    const pending = name === "connect" && parts.errno !== undefined && CONNECT_UNDER_WAY.has(parts.errno);
    const ok = !parts.hasRet || parts.ret === null ? null : parts.errno === undefined || pending;
    const rec: SyscallRecord = { type: "syscall", pid: ev.pid } as SyscallRecord;
    if (ev.comm !== undefined) rec.comm = ev.comm;
    if (ev.time !== undefined) rec.time = ev.time;
    rec.syscall = name;
    rec.kind = spec.kind;
    rec.op = spec.op;
    rec.ok = ok;
    const proc = this.proc(ev.pid);
    // an orphaned resumed half has lost its leading arguments: their positions mean nothing
    if (ev.incomplete !== "no-start") this.resolve(rec, spec, parts.args, proc, ev.missing);
    rec.args = parts.args;
    rec.ret = parts.ret;
    if (parts.errno !== undefined) rec.errno = parts.errno;
    if (parts.errmsg !== undefined) rec.errmsg = parts.errmsg;
    if (parts.retnote !== undefined) {
      rec.retnote = parts.retnote;
      if (parts.retnote.indexOf("INJECTED") >= 0) rec.injected = true;
    }
    if (parts.retfd !== undefined) rec.retfd = parts.retfd;
    if (parts.dur !== undefined) rec.dur = parts.dur;
    if (parts.errno !== undefined && parts.errno.startsWith("ERESTART")) rec.interrupted = true;
    if (pending) rec.pending = true;
    if (ev.incomplete) rec.incomplete = ev.incomplete;
    if (ev.detached) rec.detached = true;
    if (ok && ev.incomplete !== "no-start") this.update(ev, rec, spec, parts, proc);
    // a chdir to a directory not read: the working directory is not known from here on
    if (ok && spec.op === "chdir" && ev.missing?.length) proc.cwd.path = null;
    return rec;
  }

  /** Fills path, path2, fd, addr, argv and the fd-dependent kind/op. */
  private resolve(rec: SyscallRecord, spec: Spec, args: Json[], proc: Proc, missing?: number[]): void {
    const lost = (i: number | undefined) => i !== undefined && !!missing && missing.includes(i);
    if (spec.flags !== undefined) rec.op = openOp(flagText(args[spec.flags]));
    if (spec.fd !== undefined) {
      const v = args[spec.fd];
      const fd = fdNumber(v);
      if (fd !== undefined) rec.fd = fd;
      const known = fd !== undefined ? proc.fds.get(fd) : undefined;
      let info = fdInfo(v) ?? known;
      // -yy shows only an inode for a socket in another network namespace: our table may know its peer
      if (info !== known && info?.addr && known?.addr && info.addr.ip === undefined && info.addr.path === undefined) {
        info = { addr: mergeAddr(info.addr, known.addr) };
      }
      if (info?.path !== undefined && spec.path === undefined) {
        rec.path = info.path;
        if (info.deleted) rec.deleted = true;
        if (info.path.charCodeAt(0) !== 47) rec.cwdUnknown = true;     // opened by a relative name we could not resolve
      }
      if (info?.addr) rec.addr = info.addr;
      if (spec.byFd) this.byFd(rec, info);
      else if (rec.syscall === "mmap" || rec.syscall === "mmap2") {
        if (info?.path === undefined) { rec.kind = "other"; rec.op = "memory"; }
      }
    }
    if (spec.path !== undefined && !lost(spec.path)) this.pathArg(rec, "path", args, spec.path, spec.dirfd, spec.emptyPath, proc);
    if (spec.path2 !== undefined && !lost(spec.path2)) {
      // symlink's target is stored, not resolved: keep it as written
      if (spec.op === "symlink") { const t = strArg(args[spec.path2]); if (t !== undefined) rec.path2 = t; }
      else this.pathArg(rec, "path2", args, spec.path2, spec.dirfd2, undefined, proc);
    }
    if (spec.addr !== undefined && !lost(spec.addr)) {
      const a = sockaddr(args[spec.addr]);
      if (a) rec.addr = rec.addr ? mergeAddr(rec.addr, a) : a;
    }
    if (rec.syscall === "socket" || rec.syscall === "socketpair") {
      const family = familyName(flagText(args[0]));
      const proto = protoOf(flagText(args[0]), flagText(args[1]));
      rec.addr = proto ? { family, proto } : { family };
      const nl = family === "netlink" ? netlinkProto(args[2]) : undefined;
      if (nl) rec.addr.netlink = nl;
    }
    if (rec.kind === "exec") {
      const argv = args[spec.path === 0 ? 1 : 2];
      if (Array.isArray(argv)) {
        rec.argv = argv.map((x) => strArg(x) ?? String(x));
        if (argv.some((x) => isObj(x) && x.truncated === true)) rec.argvTruncated = true;
      }
    }
  }

  private byFd(rec: SyscallRecord, info: FdInfo | undefined): void {
    const reading = rec.op === "read";
    if (info?.addr) { rec.kind = "net"; rec.op = reading ? "recv" : "send"; }
    else if (info?.obj !== undefined) { rec.kind = "ipc"; }
    else if (info?.path === undefined) { rec.kind = "other"; }
  }

  private pathArg(rec: SyscallRecord, field: "path" | "path2", args: Json[], i: number, dirfdIdx: number | undefined,
    emptyIdx: number | undefined, proc: Proc): void {
    this.pathOf(rec, field, args, i, dirfdIdx, emptyIdx, proc);
    // a base that is itself relative (an fd opened by a relative name where the cwd was not known)
    const p = rec[field];
    if (p !== undefined && p.charCodeAt(0) !== 47) rec.cwdUnknown = true;
  }

  private pathOf(rec: SyscallRecord, field: "path" | "path2", args: Json[], i: number, dirfdIdx: number | undefined,
    emptyIdx: number | undefined, proc: Proc): void {
    const raw = strArg(args[i]);
    if (isObj(args[i]) && (args[i] as Obj).truncated === true) rec.pathTruncated = true;
    let base: string | null | undefined = proc.cwd.path;
    if (dirfdIdx !== undefined) base = this.dirBase(args[dirfdIdx], proc);
    if (raw === undefined) {
      // utimensat(fd, NULL, …): the call acts on the fd itself
      if (args[i] === null && dirfdIdx !== undefined && base && typeof args[dirfdIdx] !== "string") rec[field] = base;
      return;
    }
    if (raw === "" && emptyIdx !== undefined && flagText(args[emptyIdx]).indexOf("AT_EMPTY_PATH") >= 0) {
      // the call is on the dirfd itself, like an fstat
      const fd = dirfdIdx === undefined ? undefined : fdNumber(args[dirfdIdx]);
      if (fd !== undefined) rec.fd = fd;
      const info = dirfdIdx === undefined ? undefined : fdInfo(args[dirfdIdx]) ?? (fd !== undefined ? proc.fds.get(fd) : undefined);
      if (info?.obj !== undefined && info.path === undefined) return;      // fstat of a memfd, pipe, …: no file
      if (base) rec[field] = base;
      if (info?.deleted && field === "path") rec.deleted = true;
      return;
    }
    if (raw.charCodeAt(0) === 47) { rec[field] = normalize(raw); return; }
    if (base) rec[field] = resolvePath(base, raw);
    else { rec[field] = raw; rec.cwdUnknown = true; }
  }

  /** The directory a dirfd argument stands for; AT_FDCWD</dir> (-y) also tells us the cwd. */
  private dirBase(v: Json, proc: Proc): string | null {
    if (isObj(v)) {
      if (typeof v.path === "string") {
        if (v.fd === "AT_FDCWD") proc.cwd.path = v.path;
        return v.path;
      }
      if (typeof v.comment === "string" && v.comment === "AT_FDCWD") return proc.cwd.path;
      v = v.value ?? null;
    }
    if (v === "AT_FDCWD" || v === -100 || v === "0xffffff9c" || v === "-100") return proc.cwd.path;
    if (typeof v === "number") return proc.fds.get(v)?.path ?? null;
    return null;
  }

  /** State changes of a successful call. */
  private update(ev: CallEvent, rec: SyscallRecord, spec: Spec, parts: CallParts, proc: Proc): void {
    const name = ev.name, args = parts.args;
    const ret = typeof parts.ret === "number" ? parts.ret : undefined;
    switch (spec.op) {
      case "chdir":
        if (rec.path !== undefined && !rec.cwdUnknown) proc.cwd.path = rec.path;
        return;
      case "fork": {
        const child = childPid(parts);
        if (child === undefined) return;
        const flags = name === "clone3" ? flagText(isObj(args[0]) ? args[0].flags : undefined)
          : name === "clone" ? cloneFlags(args) : "";
        this.forked(ev.pid, child, flags);
        return;
      }
      case "exec":
        for (const [fd, info] of proc.fds) if (info.cloexec) proc.fds.delete(fd);
        return;
    }
    if (ret === undefined) {
      if (name === "pipe" || name === "pipe2" || name === "socketpair") {
        const pair = args[name === "socketpair" ? 3 : 0];
        if (Array.isArray(pair)) for (const x of pair) {
          const fd = fdNumber(x);
          if (fd !== undefined) proc.fds.set(fd, fdInfo(x) ?? { obj: name === "socketpair" ? "socketpair" : "pipe" });
        }
      }
      return;
    }
    if (spec.flags !== undefined || name === "creat" || name === "open_by_handle_at") {
      const flags = flagText(args[spec.flags ?? 0]);
      // an O_TMPFILE file has no name: strace -yy calls it DIR/#INODE (deleted); without -yy we say DIR/#
      const info = fdInfo(parts.retfd ?? null) ?? (rec.path === undefined ? undefined
        : flags.indexOf("O_TMPFILE") >= 0 ? { path: (rec.path === "/" ? "" : rec.path) + "/#", deleted: true } : { path: rec.path });
      if (info) {
        if (flags.indexOf("O_CLOEXEC") >= 0) info.cloexec = true;
        proc.fds.set(ret, info);
      }
      return;
    }
    switch (name) {
      case "socket": {
        const info = fdInfo(parts.retfd ?? null) ?? {};
        if (!info.addr) info.addr = { family: familyName(flagText(args[0])) };
        const proto = protoOf(flagText(args[0]), flagText(args[1]));
        if (proto && !info.addr.proto) info.addr.proto = proto;
        const nl = info.addr.family === "netlink" ? netlinkProto(args[2]) : undefined;
        if (nl && !info.addr.netlink) info.addr.netlink = nl;
        if (flagText(args[1]).indexOf("SOCK_CLOEXEC") >= 0) info.cloexec = true;
        proc.fds.set(ret, info);
        return;
      }
      case "connect": case "bind": {
        const fd = rec.fd === undefined ? undefined : proc.fds.get(rec.fd);
        if (fd && rec.addr) fd.addr = fd.addr ? mergeAddr(fd.addr, rec.addr) : rec.addr;
        return;
      }
      case "accept": case "accept4": {
        const info = fdInfo(parts.retfd ?? null) ?? {};
        if (rec.addr) info.addr = info.addr ? mergeAddr(info.addr, rec.addr) : rec.addr;
        proc.fds.set(ret, info);
        return;
      }
      case "close":
        if (rec.fd !== undefined) proc.fds.delete(rec.fd);
        return;
      case "dup": case "dup2": case "dup3": case "fcntl": case "fcntl64": {
        if ((name === "fcntl" || name === "fcntl64") && !/F_DUPFD/.test(flagText(args[1]))) {
          if (/F_SETFD/.test(flagText(args[1])) && rec.fd !== undefined) {
            const info = proc.fds.get(rec.fd);
            if (info) info.cloexec = /FD_CLOEXEC/.test(flagText(args[2]));
          }
          return;
        }
        const from = rec.fd === undefined ? undefined : (fdInfo(args[0]) ?? proc.fds.get(rec.fd));
        if (from) proc.fds.set(ret, { ...from, cloexec: /CLOEXEC/.test(flagText(args[1]) + " " + flagText(args[2])) });
        else proc.fds.delete(ret);
        return;
      }
    }
  }
}

/** A path argument's text: a plain string, or the text of a truncated one. */
export function strArg(v: Json | undefined): string | undefined {
  if (typeof v === "string") return v;
  if (isObj(v) && typeof v.str === "string") return v.str;
  return undefined;
}

function fdNumber(v: Json | undefined): number | undefined {
  if (typeof v === "number") return v;
  if (isObj(v)) {
    if (typeof v.fd === "number") return v.fd;
    if (typeof v.value === "number") return v.value;
  }
  return undefined;
}

/** What a -y/-yy annotation says an fd is. */
function fdInfo(v: Json | undefined): FdInfo | undefined {
  if (!isObj(v)) return undefined;
  if (typeof v.path === "string" && "fd" in v) {
    // a memfd is memory with a name for debugging, not a file: "/memfd:NAME (deleted)"
    if (v.deleted === true && v.path.startsWith("/memfd:")) return { obj: v.path.slice(1) };
    return v.deleted === true ? { path: v.path, deleted: true } : { path: v.path };
  }
  if (isObj(v.sock)) return { addr: sockAnnotation(v.sock) };
  if (typeof v.obj === "string") return { obj: v.obj };
  return undefined;
}

function sockAnnotation(s: Obj): Addr {
  const proto = String(s.proto);
  const family = proto.startsWith("UNIX") ? "unix" : proto.startsWith("NETLINK") ? "netlink"
    : proto.endsWith("v6") ? "inet6" : /^(TCP|UDP|UDPLITE|RAW|SCTP|DCCP|L2TP|PING)/.test(proto) ? "inet" : proto.toLowerCase();
  const a: Addr = { family, proto };
  if (typeof s.netlink === "string") a.netlink = s.netlink;         // its port id is per run: left out
  const peer = isObj(s.peer) ? s.peer : isObj(s.local) ? s.local : undefined;
  if (peer) { a.ip = String(peer.ip); a.port = Number(peer.port); }
  if (typeof s.path === "string") a.path = s.path;
  if (typeof s.inode === "number" && !peer && a.path === undefined) a.inode = s.inode;
  return a;
}

/** A decoded sockaddr (or the msg_name of a msghdr) as an Addr. */
export function sockaddr(v: Json | undefined): Addr | undefined {
  if (isObj(v) && "in" in v) v = v.out ?? v.in;               // {in, out} value-result
  if (Array.isArray(v)) v = v[0];                               // sendmmsg/recvmmsg: the first message
  if (!isObj(v)) return undefined;
  if (isObj(v.msg_hdr)) v = v.msg_hdr;
  if (isObj(v.msg_name)) v = v.msg_name;
  if (!isObj(v)) return undefined;
  const fam = v.sa_family;
  if (typeof fam !== "string") return undefined;
  const a: Addr = { family: familyName(fam) };
  if (fam === "AF_INET") { if (typeof v.sin_addr === "string") a.ip = v.sin_addr; if (typeof v.sin_port === "number") a.port = v.sin_port; }
  else if (fam === "AF_INET6") { if (typeof v.sin6_addr === "string") a.ip = v.sin6_addr; if (typeof v.sin6_port === "number") a.port = v.sin6_port; }
  // a netlink address is a port id (0: the kernel), which names a process for one run only: not kept
  else if (fam === "AF_UNIX") {
    if (typeof v.sun_path === "string") a.path = v.sun_path;
    else if (isObj(v.sun_path) && typeof v.sun_path.abstract === "string") a.abstract = v.sun_path.abstract;
  }
  return a;
}

/** `over` wins; an inode is dropped once the address itself is known. */
function mergeAddr(base: Addr, over: Addr): Addr {
  const a: Addr = { ...base, ...over };
  if (base.proto && !over.proto) a.proto = base.proto;
  if (a.ip !== undefined || a.path !== undefined || a.abstract !== undefined || a.netlink !== undefined) delete a.inode;
  return a;
}

function familyName(af: string): string {
  const f = af.startsWith("AF_") ? af.slice(3) : af;
  return f === "INET" ? "inet" : f === "INET6" ? "inet6" : f === "UNIX" || f === "LOCAL" ? "unix" : f.toLowerCase();
}

function protoOf(af: string, type: string): string | undefined {
  const v6 = af === "AF_INET6" ? "v6" : "";
  if (af === "AF_INET" || af === "AF_INET6") {
    if (type.indexOf("SOCK_STREAM") >= 0) return "TCP" + v6;
    if (type.indexOf("SOCK_DGRAM") >= 0) return "UDP" + v6;
    if (type.indexOf("SOCK_RAW") >= 0) return "RAW" + v6;
  }
  if (af === "AF_UNIX" || af === "AF_LOCAL") return type.indexOf("SOCK_DGRAM") >= 0 ? "UNIX-DGRAM" : "UNIX-STREAM";
  if (af === "AF_NETLINK") return "NETLINK";                 // as -yy names it, so both backends agree
  return undefined;
}

// <linux/netlink.h>: the protocols a program may open (bpftrace passes the number, strace the name)
const NETLINK: Record<number, string> = { 0: "ROUTE", 2: "USERSOCK", 4: "SOCK_DIAG", 5: "NFLOG", 6: "XFRM", 7: "SELINUX",
  8: "ISCSI", 9: "AUDIT", 10: "FIB_LOOKUP", 11: "CONNECTOR", 12: "NETFILTER", 13: "IP6_FW", 14: "DNRTMSG",
  15: "KOBJECT_UEVENT", 16: "GENERIC", 18: "SCSITRANSPORT", 19: "ECRYPTFS", 20: "RDMA", 21: "CRYPTO", 22: "SMC" };

function netlinkProto(v: Json | undefined): string | undefined {
  if (typeof v === "number") return NETLINK[v] ?? String(v);
  const t = flagText(v);
  return t.startsWith("NETLINK_") ? t.slice(8) : /^\d+$/.test(t) ? NETLINK[Number(t)] ?? t : undefined;
}

function cloneFlags(args: Json[]): string {
  for (const a of args) if (typeof a === "string" && a.startsWith("flags=")) return a.slice(6);
  return "";
}

/** The child's pid in the tracer's pid namespace (strace --decode-pids=pidns says it in a comment). */
export function childPid(parts: { ret: number | string | null; retnote?: string }): number | undefined {
  const m = parts.retnote ? /(\d+) in (?:strace|the tracer)'s PID NS/.exec(parts.retnote) : null;
  if (m) return Number(m[1]);
  if (typeof parts.ret === "number" && parts.ret > 0) return parts.ret;
  return undefined;
}

export type { Kind };
