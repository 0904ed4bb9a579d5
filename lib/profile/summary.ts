// A profile is a fold over records: one summary per resource (file, program, peer, privilege,
// credential change) plus a `profile` header with provenance. Folding events and merging profiles use
// the same operations (set union, sums, min/max, sorted lists cut at a fixed length), so merging is
// associative and commutative: runs can be combined in any order or in stages.

import { hostname } from "node:os";
import { followsLast, kernelPath, PathWalker } from "./canonical.js";
import { normalizeName, OwnProc, type Rule } from "./normalize.js";
import { maskOf, patternOfMask, widerPattern, type Pattern } from "../pattern.js";
import { flagText, specOf } from "../trace/syscalls.js";
import { addCall, addHeader, KEPT_SYSCALLS, sortedValues, type ArgValues } from "./arg-values.js";
import { collapseUnder } from "../trace/paths.js";
import type { AnyRecord } from "../io/ndjson-in.js";
import type { Addr, SyscallRecord } from "../io/records.js";
import { TrustTracker, unionReasons } from "./trust.js";

const TMP = "<tmp>";
const TMPFILE = /\/#\d*$/;                      // an O_TMPFILE file's name: DIR/#INODE (DIR/# from bpftrace)
const TEMP_MAX = 1 << 16;

type Name = { path: string; pattern?: Pattern };

/** DIR/<tmp> for a name in DIR: the directory's own globs kept, "<tmp>" a glob the tool made. */
function tempName(n: Name): Name {
  const cut = n.path.lastIndexOf("/");
  const dir = cut > 0 ? n.path.slice(0, cut) : "";
  const path = dir + "/" + TMP;
  const mask = [...maskOf(n.path, n.pattern).slice(0, dir.length), false, ...new Array<boolean>(TMP.length).fill(true)];
  return { path, pattern: patternOfMask(path, mask) };
}

export const PROFILE_WARNING = "A trace shows only what this run did: code paths the run did not take are not in it.";
const LIST_MAX = 20;             // distinct values kept per list (the first ones in sort order)

export interface Summary {
  type: "summary";
  kind: string;
  path?: string;                   // files and programs: the file itself (see trace-summarize(1) CANONICAL NAMES)
  pattern?: Pattern;               // the path holds globs the tools made (normalised names, DIR/**): which parts
  names?: string[];                // the names it was called by, where they differ from path
  temporaryOf?: string[];          // DIR/<tmp>: what the temporaries it stands for were renamed onto
  interpreter?: string;            // programs: a script's "#!" interpreter, which the kernel ran for it
  scripts?: string[];              // programs: the scripts it was run for as their interpreter
  addr?: Addr;
  role?: "peer" | "local" | "socket";
  op?: string;                     // priv and cred summaries: what was done
  capability?: string;
  ops: string[];
  okOps?: string[];                // the operations that succeeded at least once
  syscalls: string[];
  calls: number;
  ok: number;
  errors: { [errno: string]: number };
  pending?: number;                // connects left under way (EINPROGRESS, ...): counted in ok, their outcome not seen
  programs: string[];
  probe?: boolean;                 // every call failed with ENOENT: a search, not a use
  argv?: string[][];
  evidence?: string[];
  values?: string[];
  cwdUnknown?: boolean;
  bytesRead?: number;              // files: the sum of what read calls returned (a trace with read/write: trace-run --cost)
  bytesWritten?: number;
  bytesSent?: number;              // peers: the same for send and write on the socket
  bytesReceived?: number;
}

export interface ProfileHeader {
  type: "profile";
  v: number;
  commands: string[][];
  hosts: string[];
  users: string[];
  tracers: string[];
  start?: number;
  end?: number;
  events: { [type: string]: number };
  processes: number;
  syscalls: { [name: string]: number };
  runs: number;
  containers?: string[];
  entrypoints?: string[];          // the file each run (each container) started with: its first program
  filtered?: boolean;              // a run traced only some system calls (syscall counts are partial)
  argValues?: ArgValues;           // values of the arguments a seccomp policy filters on (lib/profile/arg-values.ts)
  cost?: RunCost;                  // summed over the runs whose end record measured it
  incomplete?: string[];           // why a run folded in cannot be trusted (see trust.ts); absent: every run was complete
  warning: string;
}

/** Linux capability each privileged operation needs. */
const CAPS: { [op: string]: string } = {
  mount: "CAP_SYS_ADMIN", umount: "CAP_SYS_ADMIN", pivot_root: "CAP_SYS_ADMIN", setns: "CAP_SYS_ADMIN",
  unshare: "CAP_SYS_ADMIN", sethostname: "CAP_SYS_ADMIN", quota: "CAP_SYS_ADMIN", swap: "CAP_SYS_ADMIN",
  fanotify: "CAP_SYS_ADMIN", bpf: "CAP_BPF", perf: "CAP_PERFMON", syslog: "CAP_SYSLOG", chroot: "CAP_SYS_CHROOT",
  module: "CAP_SYS_MODULE", ptrace: "CAP_SYS_PTRACE", reboot: "CAP_SYS_BOOT", kexec: "CAP_SYS_BOOT",
  settime: "CAP_SYS_TIME", ioport: "CAP_SYS_RAWIO", acct: "CAP_SYS_PACCT", vhangup: "CAP_SYS_TTY_CONFIG",
  open: "CAP_DAC_READ_SEARCH",
};

export class Profiler {
  private own = new OwnProc();
  private header: ProfileHeader = {
    type: "profile", v: 1, commands: [], hosts: [], users: [], tracers: [], events: {}, processes: 0, syscalls: {}, runs: 0,
    warning: PROFILE_WARNING,
  };
  private res = new Map<string, Summary>();
  private exe = new Map<number, string>();       // pid → program it runs, for `programs`
  private pids = new Set<number>();               // pids of the current event stream
  private needCommand = true;                     // the stream's run header did not name its command
  private needEntry = new Set<string>();           // runs (""), containers (their id) whose first program is known

  private normalized = new Map<string, { path: string; pattern?: Pattern }>();  // path → normalised path (see norm)
  // temporaries by rule (fileKey): bounded maps of names, whatever the stream's length
  private made = new Map<string, true>();          // names this run made that still stand
  private under = new Map<string, Set<string>>();  // a directory this run made → summaries below it
  private gone = new Map<string, Name>();          // a temporary's name → the DIR/<tmp> it moved to
  private trust = new TrustTracker();              // whether every run folded in was complete

  private walkHost = true;                         // the stream was traced on this host: its names can be walked here
  private readonly host: PathWalker | undefined;
  private readonly container: PathWalker | undefined;

  /**
   * `includeRuntime`: fold in what a container runtime did setting the container up (left out by default).
   * `walk`: resolve the names the tracer did not resolve on this host (default true); `containerRoot`: a
   * container's root file system, to resolve its names (containerPath) in (default: they are kept as named).
   */
  constructor(private readonly rules: Rule[] = [], private readonly includeRuntime = false,
    opts: { walk?: boolean; containerRoot?: string } = {}) {
    this.host = opts.walk === false ? undefined : new PathWalker("/");
    this.container = opts.containerRoot ? new PathWalker(opts.containerRoot) : undefined;
  }

  add(r: AnyRecord | ProfileHeader | Summary): void {
    this.trust.add(r);
    switch (r.type) {
      case "syscall": this.event(r as SyscallRecord); return;
      case "summary": this.mergeSummary(r as unknown as Summary); return;
      case "profile": this.mergeHeader(r as unknown as ProfileHeader); return;
      case "run": {
        const run = r as { argv?: string[]; host?: string; user?: string; tracer?: string; tracerVersion?: string; start?: number; flags?: string[] };
        this.header.runs++;
        // strace with a filter of calls; the kernel backends probe a set of calls, never all of them
        if (run.flags?.some((f, i) => f === "--seccomp-bpf" || (f === "-e" && /^trace=/.test(run.flags![i + 1] ?? "")) || /^(-e)?trace=|^--trace=/.test(f))) this.header.filtered = true;
        if (run.tracer === "bpftrace" || run.tracer === "ebpf") this.header.filtered = true;
        this.flushPids();
        this.walkHost = !run.host || run.host === hostname();
        this.needCommand = !run.argv?.length;
        this.needEntry.clear();
        if (run.argv?.length) this.header.commands = unionLists(this.header.commands, [run.argv]);
        if (run.host) this.header.hosts = union(this.header.hosts, [run.host]);
        if (run.user) this.header.users = union(this.header.users, [run.user]);
        if (run.tracer) this.header.tracers = union(this.header.tracers, [run.tracer + (run.tracerVersion ? " " + run.tracerVersion : "")]);
        this.span(run.start);
        return;
      }
      case "end": {
        const c = (r as { cost?: RunCost }).cost;
        if (c) this.header.cost = addCost(this.header.cost, c);
        return;
      }
      case "exit": {
        const pid = (r as { pid?: number | null }).pid;
        if (typeof pid === "number" && !(r as { supersededBy?: number }).supersededBy) this.exe.delete(pid);
        this.count("exit");
        return;
      }
      default: this.count(r.type);
    }
  }

  /** normalizePath with this profile's rules, remembered: a run names the same paths again and again. */
  private norm(p: string): { path: string; pattern?: Pattern } {
    let n = this.normalized.get(p);
    if (n === undefined) {
      if (this.normalized.size >= 1 << 16) this.normalized.clear();     // bounded, whatever the input
      n = normalizeName(p, this.rules);
      this.normalized.set(p, n);
    }
    return n;
  }

  private count(type: string, n = 1): void {
    this.header.events[type] = (this.header.events[type] ?? 0) + n;
  }

  private span(t: unknown): void {
    if (typeof t !== "number") return;
    if (this.header.start === undefined || t < this.header.start) this.header.start = t;
    if (this.header.end === undefined || t > this.header.end) this.header.end = t;
  }

  private flushPids(): void {
    this.header.processes += this.pids.size;
    this.pids.clear();
    this.exe.clear();
  }

  private event(e: SyscallRecord): void {
    // a process looking at its own /proc entries (or a relative's) is not reading another's
    this.own.rewrite(e);
    if (e.runtime && !this.includeRuntime) { this.count("runtime"); return; }
    this.count("syscall");
    this.header.syscalls[e.syscall] = (this.header.syscalls[e.syscall] ?? 0) + 1;
    if (KEPT_SYSCALLS.includes(e.syscall)) addCall(this.header.argValues ??= {}, e);
    this.span(e.time);
    if (e.pid !== null) this.pids.add(e.pid);
    const prog = e.pid === null ? undefined : this.exe.get(e.pid);
    if (e.kind === "proc" && e.op === "fork" && e.ok && typeof e.ret === "number" && e.pid !== null && prog) this.exe.set(e.ret, prog);
    if (e.kind === "exec" && e.ok && e.path && e.pid !== null) this.exe.set(e.pid, this.canonical(e).path);
    if (e.kind === "exec" && e.ok && e.path) {
      // the traced command's program, or a container's entrypoint: a policy is named after it, whatever
      // else the run went on to start
      const run = typeof e.container === "string" ? e.container : "";
      if (!this.needEntry.has(run)) {
        this.needEntry.add(run);
        this.header.entrypoints = union(this.header.entrypoints ?? [], [this.norm(this.canonical(e).path).path]);
      }
    }
    if (this.needCommand && e.kind === "exec" && e.ok && e.argv) {
      // a log without a run header (plain strace): its first program is the command
      this.header.commands = unionLists(this.header.commands, [e.argv]);
      this.needCommand = false;
    }
    // the name a kernel backend read at a successful exec's end is the new program's, not its caller's
    const progs = prog ? [prog] : e.comm && !(e.kind === "exec" && e.ok) ? [e.comm] : [];
    if (e.incomplete === "no-start") return;         // its arguments are partial

    // an fstat of an open fd needs no permission and names no file the open did not: it is left out, so
    // that the stat of an fd inherited from outside the trace, which only strace's -yy can name, does
    // not make the two backends' profiles differ
    const fdStat = e.op === "stat" && fdOnly(e);
    const file = (e.kind === "file" || e.kind === "exec") && e.path !== undefined && !fdStat ? this.canonical(e) : undefined;
    const key = file ? this.fileKey(e, file) : undefined;
    if (file && key) {
      const s = this.named(this.fold("file", key, e, e.kind === "exec" ? "exec" : e.op, progs), e.path!);
      if (e.cwdUnknown && !file.kernel) s.cwdUnknown = true;
      const n = transferred(e);
      if (n) { if (e.op === "read") s.bytesRead = (s.bytesRead ?? 0) + n; else if (e.op === "write") s.bytesWritten = (s.bytesWritten ?? 0) + n; }
      if (e.path2 !== undefined && (e.op === "rename" || e.op === "link")) {
        // the new name is replaced, not followed: its directory is walked, not a link it may be
        const to = this.norm(this.walked(e, e.path2, false));
        this.gone.delete(to.path);                              // a name made anew
        if (e.ok && e.op === "link") this.make(to.path);
        this.named(this.fold("file", to, e, e.op === "rename" ? "create" : "link", progs), e.path2);
        if (e.ok) this.settle(key.path, to.path, e.op);
      }
      if (e.ok && e.op === "delete") this.settle(key.path, undefined, "delete");
    }
    if (e.kind === "exec" && file && key) {
      const s = this.named(this.fold("exec", key, e, "exec", progs), e.path!);
      if (e.ok && e.argv) s.argv = unionLists(s.argv ?? [], [e.argv.map((x) => (x.startsWith("/") ? this.norm(x).path : x))]);
      if (e.ok) this.interpreters(e, file.path, s, progs);
    }
    if (e.kind === "net") this.net(e, progs);
    if (e.kind === "priv") {
      const cap = e.op === "unshare" && /^CLONE_NEWUSER$/.test(String(e.args[0])) ? undefined : CAPS[e.op];
      this.privilege(e, e.op, cap, e.path ? `${e.syscall} ${e.path}` : e.syscall, progs);
    }
    if (e.kind === "cred" && e.op !== "getid") {
      const s = this.fold("cred", { op: e.op }, e, e.op, progs);
      s.values = union(s.values ?? [], [`${e.syscall}(${e.args.map((a) => JSON.stringify(a)).join(", ")})`]);
      if (e.op === "setuid" || e.op === "setgid" || e.op === "setgroups") this.privilege(e, e.op, e.op === "setuid" ? "CAP_SETUID" : "CAP_SETGID", e.syscall, progs);
      if (e.op === "capset") this.privilege(e, e.op, "CAP_SETPCAP", e.syscall, progs);
    }
    if (e.container !== undefined) this.header.containers = union(this.header.containers ?? [], [e.container]);
    if (e.kind === "file" && e.op === "chown") this.privilege(e, "chown", "CAP_CHOWN", `${e.syscall} ${e.path ?? ""}`.trim(), progs);
    if (e.kind === "file" && e.op === "mknod" && /S_IF(CHR|BLK)/.test(JSON.stringify(e.args))) this.privilege(e, "mknod", "CAP_MKNOD", `${e.syscall} ${e.path ?? ""}`, progs);
  }

  /**
   * The file a record acts on: the kernel's name when the tracer printed it (strace -yy), else the name
   * walked on this host (or in the container's root); as named where neither can say (a stream from
   * another host, a container without its root, names under /proc, which mean the traced process).
   */
  private canonical(e: SyscallRecord): { path: string; kernel?: boolean; deleted?: boolean } {
    const named = e.path!;
    if (/^\/proc(\/|$)/.test(named)) return { path: named };
    const k = kernelPath(e);
    if (k && !/^\/proc(\/|$)/.test(k.path)) return k.deleted ? { path: k.path, kernel: true, deleted: true } : { path: k.path, kernel: true };
    // the bpftrace backend's name for an O_TMPFILE fd (lib/trace/resolver.ts)
    if (e.deleted && TMPFILE.test(named)) return { path: named, deleted: true };
    return { path: this.walked(e, named, followsLast(e)) };
  }

  private walked(e: SyscallRecord, named: string, followLast: boolean): string {
    if (!named.startsWith("/")) return named;
    const w = e.containerPath ? this.container : this.walkHost ? this.host : undefined;
    return w?.resolve(named, followLast) ?? named;
  }

  /**
   * A script run: the kernel runs its "#!" interpreter, which no call names. Read on this host (or in
   * the container's root), it is folded in as run too, by the file (and the program) it is, up to the
   * kernel's four levels of scripts run by scripts.
   */
  private interpreters(e: SyscallRecord, path: string, s: Summary, progs: string[]): void {
    const w = e.containerPath ? this.container : this.walkHost ? this.host : undefined;
    if (!w) return;
    let script = path, argv = e.argv ?? [];
    for (let depth = 0; depth < 4; depth++) {
      const sb = w.interpreter(script);
      if (!sb) return;
      const file = w.resolve(sb.interpreter, true) ?? sb.interpreter, interp = this.norm(file);
      const by = depth === 0 ? s : this.res.get(keyOf("exec", { path: this.norm(script).path }));
      if (by) by.interpreter = interp.path;
      this.named(this.fold("file", interp, e, "exec", progs), sb.interpreter);
      const t = this.named(this.fold("exec", interp, e, "exec", progs), sb.interpreter);
      t.scripts = with1(t.scripts ?? [], this.norm(script).path);
      // the kernel's argv for it: the interpreter, its argument, the script's name as called, the rest
      const args = [sb.interpreter, ...(sb.arg !== undefined ? [sb.arg] : []), depth === 0 ? e.path! : script, ...argv.slice(1)];
      t.argv = unionLists(t.argv ?? [], [args.map((x) => (x.startsWith("/") ? this.norm(x).path : x))]);
      script = file; argv = args;
    }
  }

  /** Keeps the name as called beside the canonical one (bounded, like every list); a temporary's are random. */
  private named(s: Summary, name: string): Summary {
    if (s.pattern?.some((x) => typeof x !== "string" && x.glob === "tmp")) return s;
    const n = this.norm(name).path;
    if (n !== s.path) s.names = with1(s.names ?? [], n);
    return s;
  }

  /**
   * The key a file record folds into. Temporaries by rule (see trace-summarize(1) TEMPORARY FILES): a
   * file made with O_TMPFILE is DIR/<tmp> from the start; a name this run made (O_CREAT|O_EXCL, mkdir,
   * mknod, symlink, link) is remembered until it is removed or renamed (settle), when its summary moves
   * to DIR/<tmp>; later records naming it follow it there.
   */
  private fileKey(e: SyscallRecord, file: { path: string; deleted?: boolean }): Name {
    const spec = specOf(e.syscall);
    const flags = spec.flags !== undefined ? flagText(e.args[spec.flags]) : "";
    if (flags.indexOf("O_TMPFILE") >= 0 && e.path !== undefined) {
      // the open names the directory; strace's retfd the file, DIR/#INODE (bpftrace: the directory)
      const dir = file.deleted && TMPFILE.test(file.path) ? file.path.slice(0, file.path.lastIndexOf("/")) : file.path;
      return tempName(this.norm((dir || "") + "/x"));
    }
    if (file.deleted && TMPFILE.test(file.path)) return tempName(this.norm(file.path));
    const key = this.norm(file.path);
    const excl = flags.indexOf("O_CREAT") >= 0 && flags.indexOf("O_EXCL") >= 0;
    if (e.ok && (excl || e.op === "mkdir" || e.op === "mknod" || e.op === "symlink")) {
      this.gone.delete(key.path);
      this.make(key.path);
      return key;
    }
    return this.gone.get(key.path) ?? key;
  }

  private make(key: string): void {
    if (!this.made.has(key) && this.made.size < TEMP_MAX) this.made.set(key, true);
  }

  /** `key` was removed (`to` undefined) or renamed onto `to`: a name this run made is a temporary. */
  private settle(key: string, to: string | undefined, how: string): void {
    if (!this.made.has(key)) return;
    const s = this.res.get(keyOf("file", { path: key })) ?? this.res.get(keyOf("exec", { path: key }));
    const from: Name = s?.pattern ? { path: key, pattern: s.pattern } : { path: key };
    const t = tempName(from);
    this.made.delete(key);
    this.moveTo(from, t, how === "rename" ? to : undefined);
    // what was below a temporary directory moves with it
    const below = this.under.get(key);
    this.under.delete(key);
    if (below) for (const c of below) {
      if (!c.startsWith(key + "/")) continue;
      const cs = this.res.get(keyOf("file", { path: c })) ?? this.res.get(keyOf("exec", { path: c }));
      const path = t.path + c.slice(key.length);
      const mask = [...maskOf(t.path, t.pattern), ...maskOf(c, cs?.pattern).slice(key.length)];
      const pattern = patternOfMask(path, mask);
      this.moveTo(cs?.pattern ? { path: c, pattern: cs.pattern } : { path: c }, pattern ? { path, pattern } : { path }, undefined);
    }
  }

  private moveTo(from: Name, to: Name, of: string | undefined): void {
    for (const kind of ["file", "exec"]) {
      const k = keyOf(kind, from);
      const s = this.res.get(k);
      if (!s) continue;
      this.res.delete(k);
      const t = { ...s, path: to.path } as Summary;
      if (to.pattern) t.pattern = to.pattern; else delete t.pattern;
      delete t.names;
      const have = this.res.get(keyOf(kind, to));
      if (have) mergeInto(have, t); else this.add1(kind, t);
      if (of !== undefined && kind === "file") { const d = this.res.get(keyOf(kind, to))!; d.temporaryOf = with1(d.temporaryOf ?? [], of); }
    }
    if (this.made.delete(from.path)) this.made.set(to.path, true);
    if (this.gone.size >= TEMP_MAX) this.gone.delete(this.gone.keys().next().value!);
    this.gone.set(from.path, to);
  }

  /** A new file or program summary: registered below the nearest directory this run made, if any. */
  private add1(kind: string, s: Summary): void {
    this.res.set(keyOf(kind, s), s);
    if (!this.made.size || !s.path?.startsWith("/")) return;
    for (let i = s.path.lastIndexOf("/"); i > 0; i = s.path.lastIndexOf("/", i - 1)) {
      const dir = s.path.slice(0, i);
      if (!this.made.has(dir)) continue;
      let set = this.under.get(dir);
      if (!set) { set = new Set(); this.under.set(dir, set); }
      if (set.size < TEMP_MAX) set.add(s.path);
      break;
    }
  }

  private net(e: SyscallRecord, progs: string[]): void {
    const a = e.addr;
    if (!a) return;
    let role: "peer" | "local" | "socket";
    let addr: Addr;
    switch (e.op) {
      case "socket":
        role = "socket"; addr = pick(a, ["family", "proto", "netlink"]);
        if (a.proto?.startsWith("RAW") || a.family === "packet") this.privilege(e, "raw-socket", "CAP_NET_RAW", `${e.syscall} ${a.family} ${a.proto ?? ""}`.trim(), progs);
        break;
      case "connect": role = "peer"; addr = endpoint(a); break;
      case "bind": case "listen":
        role = "local"; addr = endpoint(a);
        if (e.op === "bind" && a.port !== undefined && a.port > 0 && a.port < 1024 && (a.family === "inet" || a.family === "inet6")) {
          this.privilege(e, "bind", "CAP_NET_BIND_SERVICE", `bind ${a.ip}:${a.port}`, progs);
        }
        break;
      case "accept": role = "peer"; addr = { ...endpoint(a) }; delete addr.port; break;   // the client's port is ephemeral
      case "send": case "recv":
        if (!e.args.some((x) => x && typeof x === "object" && !Array.isArray(x) && ("sa_family" in x || "msg_name" in x))) {
          this.bytes(e);                                                                     // on a connected socket
          return;
        }
        role = "peer"; addr = endpoint(a);                                                 // datagrams to an address of their own
        if (e.op === "recv") delete addr.port;
        break;
      default: return;
    }
    const s = this.fold("net", { addr, role }, e, e.op, progs);
    const n = transferred(e);
    if (n && e.op === "send") s.bytesSent = (s.bytesSent ?? 0) + n;
    if (n && e.op === "recv") s.bytesReceived = (s.bytesReceived ?? 0) + n;
  }

  /** Bytes on a connected socket go to its peer: the one connected to, or the client accepted (no port). */
  private bytes(e: SyscallRecord): void {
    const n = transferred(e);
    if (!n || !e.addr || e.addr.ip === undefined && e.addr.path === undefined && e.addr.abstract === undefined) return;
    const a = endpoint(e.addr);
    const noPort = { ...a }; delete noPort.port;
    const s = this.res.get(keyOf("net", { role: "peer", addr: a })) ?? this.res.get(keyOf("net", { role: "peer", addr: noPort }));
    if (!s) return;
    if (e.op === "send") s.bytesSent = (s.bytesSent ?? 0) + n;
    else s.bytesReceived = (s.bytesReceived ?? 0) + n;
  }

  private privilege(e: SyscallRecord, op: string, capability: string | undefined, evidence: string, progs: string[]): void {
    const s = this.fold("priv", { op, capability }, e, op, progs);
    s.evidence = union(s.evidence ?? [], [`${evidence} (${e.ok ? "ok" : e.errno ?? "no result"})`]);
  }

  /** Folds one event into the summary of its resource. */
  private fold(kind: string, id: Partial<Summary>, e: SyscallRecord, op: string, progs: string[]): Summary {
    const key = keyOf(kind, id);
    let s = this.res.get(key);
    if (!s) {
      s = { type: "summary", kind, ...id, ops: [], syscalls: [], calls: 0, ok: 0, errors: {}, programs: [] } as Summary;
      if (s.capability === undefined) delete s.capability;
      if (kind === "file" || kind === "exec") this.add1(kind, s); else this.res.set(key, s);
    } else if (id.pattern) {
      // a literal name and a tool-made glob of the same text: the glob covers both
      s.pattern = widerPattern(s.pattern, id.pattern);
    }
    s.ops = with1(s.ops, op);
    if (e.ok) s.okOps = with1(s.okOps ?? [], op);
    s.syscalls = with1(s.syscalls, e.syscall);
    s.calls++;
    if (e.ok) s.ok++;
    else if (e.errno) s.errors[e.errno] = (s.errors[e.errno] ?? 0) + 1;
    if (e.pending) s.pending = (s.pending ?? 0) + 1;
    if (progs.length === 1) s.programs = with1(s.programs, progs[0]);
    else if (progs.length) s.programs = union(s.programs, progs);
    return s;
  }

  private mergeSummary(t: Summary): void {
    if ((t.kind === "file" || t.kind === "exec") && t.path !== undefined) {
      // the profile's own globs stay globs; the rest of the name is normalised as an event's would be
      const n = normalizeName(t.path, t.kind === "file" ? this.rules : [], maskOf(t.path, t.pattern));
      t = { ...t, path: n.path };
      if (n.pattern) t.pattern = n.pattern; else delete t.pattern;
    }
    const key = keyOf(t.kind, t);
    const s = this.res.get(key);
    if (!s) { this.res.set(key, clone(t)); return; }
    mergeInto(s, t);
  }

  private mergeHeader(h: ProfileHeader): void {
    const me = this.header;
    me.commands = unionLists(me.commands, h.commands ?? []);
    me.hosts = union(me.hosts, h.hosts ?? []);
    me.users = union(me.users, h.users ?? []);
    me.tracers = union(me.tracers, h.tracers ?? []);
    this.span(h.start); this.span(h.end);
    for (const [k, n] of Object.entries(h.events ?? {})) this.count(k, n);
    for (const [k, n] of Object.entries(h.syscalls ?? {})) me.syscalls[k] = (me.syscalls[k] ?? 0) + n;
    if (KEPT_SYSCALLS.some((k) => h.syscalls?.[k])) addHeader(me.argValues ??= {}, h.syscalls, h.argValues);
    if (h.containers) me.containers = union(me.containers ?? [], h.containers);
    if (h.entrypoints) me.entrypoints = union(me.entrypoints ?? [], h.entrypoints);
    if (h.filtered) me.filtered = true;
    if (h.cost) me.cost = addCost(me.cost, h.cost);
    me.processes += h.processes ?? 0;
    me.runs += h.runs ?? 0;
  }

  /** The profile: its header, then the summaries in a stable order, directories over `collapse` entries as globs. */
  result(collapse?: number): [ProfileHeader, ...Summary[]] {
    this.flushPids();
    for (const s of this.res.values()) {
      if (s.kind === "file") {
        const errs = Object.keys(s.errors);
        if (s.ok === 0 && errs.length === 1 && errs[0] === "ENOENT") s.probe = true; else delete s.probe;
      }
    }
    if (this.gone.size) {
      // programs and arguments that were temporaries are named as their summaries are
      const to = (x: string) => (x.startsWith("/") ? this.gone.get(this.norm(x).path)?.path ?? x : x);
      for (const s of this.res.values()) {
        if (s.programs.some((x) => to(x) !== x)) s.programs = union([], s.programs.map(to));
        if (s.argv?.some((a) => a.some((x) => to(x) !== x))) s.argv = unionLists([], s.argv.map((a) => a.map(to)));
      }
    }
    let all = [...this.res.values()];
    if (collapse !== undefined) all = collapseDirs(all, collapse);
    const order = ["file", "exec", "net", "priv", "cred"];
    all.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || cmp(sortKey(a), sortKey(b)));
    const h = this.header;
    const { argValues, ...rest } = h;     // last, wherever the first such call came
    const header: ProfileHeader = { ...rest, syscalls: sortObj(h.syscalls), events: sortObj(h.events), ...(argValues ? { argValues: sortedValues(argValues) } : {}) };
    const incomplete = this.trust.reasons();
    if (incomplete.length) header.incomplete = unionReasons([], incomplete);
    return [header, ...all.map(tidy)];
  }
}

/** What runs cost (trace-run's end record): times and counts add up, peak memory is the largest. */
export interface RunCost { cpuUser?: number; cpuSystem?: number; peakMemory?: number; processes?: number; wall?: number; runs?: number }

function addCost(a: RunCost | undefined, b: RunCost): RunCost {
  const o: RunCost = { ...(a ?? {}) };
  for (const k of ["cpuUser", "cpuSystem", "processes", "wall"] as const) {
    if (b[k] !== undefined) o[k] = Math.round(((o[k] ?? 0) + b[k]!) * 1e6) / 1e6;
  }
  if (b.peakMemory !== undefined) o.peakMemory = Math.max(o.peakMemory ?? 0, b.peakMemory);
  o.runs = (a?.runs ?? 0) + (b.runs ?? 1);
  return o;
}

/** A call on an fd (fstat, or a dirfd with AT_EMPTY_PATH), not on a name. */
function fdOnly(e: SyscallRecord): boolean {
  const spec = specOf(e.syscall);
  if (spec.fd !== undefined && spec.path === undefined) return true;
  return spec.emptyPath !== undefined && spec.path !== undefined && e.args[spec.path] === "" && flagText(e.args[spec.emptyPath]).indexOf("AT_EMPTY_PATH") >= 0;
}

/** Bytes a successful read, write, send or receive moved: its return value. */
function transferred(e: SyscallRecord): number {
  if (!e.ok || typeof e.ret !== "number" || e.ret <= 0) return 0;
  // an open's result is a descriptor, not a count: only calls that move data count
  return specOf(e.syscall).byFd || /^(send|recv)/.test(e.syscall) ? e.ret : 0;
}

function pick(a: Addr, keys: (keyof Addr)[]): Addr {
  const o: Addr = { family: a.family };
  for (const k of keys) if (a[k] !== undefined) (o as unknown as Record<string, unknown>)[k] = a[k];
  return o;
}
// no inode or port id: the kernel hands those out anew each run, and a summary must not depend on the run
const endpoint = (a: Addr) => pick(a, ["family", "proto", "netlink", "ip", "port", "path", "abstract"]);

export function keyOf(kind: string, s: Partial<Summary>): string {
  if (kind === "file" || kind === "exec") return kind + "\0" + s.path;
  if (kind === "net") return kind + "\0" + s.role + "\0" + JSON.stringify(endpoint(s.addr ?? { family: "?" }));
  return kind + "\0" + (s.op ?? "") + "\0" + (s.capability ?? "");
}

function sortKey(s: Summary): string {
  return keyOf(s.kind, s);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** union(a, [x]) without building anything when x is there already (the common case, once per event). */
function with1(a: string[], x: string): string[] {
  return a.includes(x) ? a : union(a, [x]);
}

function union(a: string[], b: string[]): string[] {
  if (b.every((x) => a.includes(x))) return a;
  return [...new Set([...a, ...b])].sort(cmp).slice(0, LIST_MAX);
}

function unionLists(a: string[][], b: string[][]): string[][] {
  const m = new Map<string, string[]>();
  for (const x of [...a, ...b]) m.set(JSON.stringify(x), x);
  return [...m.entries()].sort((x, y) => cmp(x[0], y[0])).slice(0, LIST_MAX).map((x) => x[1]);
}

function mergeInto(s: Summary, t: Summary): void {
  s.ops = union(s.ops, t.ops ?? []);
  if (t.okOps) s.okOps = union(s.okOps ?? [], t.okOps);
  s.syscalls = union(s.syscalls, t.syscalls ?? []);
  s.calls += t.calls ?? 0;
  s.ok += t.ok ?? 0;
  for (const [k, n] of Object.entries(t.errors ?? {})) s.errors[k] = (s.errors[k] ?? 0) + n;
  if (t.pending) s.pending = (s.pending ?? 0) + t.pending;
  s.programs = union(s.programs, t.programs ?? []);
  if (t.pattern) s.pattern = widerPattern(s.pattern, t.pattern);
  if (t.argv) s.argv = unionLists(s.argv ?? [], t.argv);
  if (t.evidence) s.evidence = union(s.evidence ?? [], t.evidence);
  if (t.values) s.values = union(s.values ?? [], t.values);
  if (t.cwdUnknown) s.cwdUnknown = true;
  if (t.names) s.names = union(s.names ?? [], t.names);
  if (t.temporaryOf) s.temporaryOf = union(s.temporaryOf ?? [], t.temporaryOf);
  if (t.interpreter && !s.interpreter) s.interpreter = t.interpreter;
  if (t.scripts) s.scripts = union(s.scripts ?? [], t.scripts);
  for (const k of ["bytesRead", "bytesWritten", "bytesSent", "bytesReceived"] as const) if (t[k]) s[k] = (s[k] ?? 0) + t[k]!;
}

function clone(t: Summary): Summary {
  return { ...t, ...(t.pattern ? { pattern: t.pattern.map((x) => (typeof x === "string" ? x : { ...x })) } : {}), ops: [...(t.ops ?? [])], ...(t.okOps ? { okOps: [...t.okOps] } : {}), ...(t.names ? { names: [...t.names] } : {}), ...(t.temporaryOf ? { temporaryOf: [...t.temporaryOf] } : {}), ...(t.scripts ? { scripts: [...t.scripts] } : {}), syscalls: [...(t.syscalls ?? [])], errors: { ...(t.errors ?? {}) }, programs: [...(t.programs ?? [])],
    calls: t.calls ?? 0, ok: t.ok ?? 0 };
}

function sortObj<T>(o: { [k: string]: T }): { [k: string]: T } {
  return Object.fromEntries(Object.entries(o).sort((a, b) => cmp(a[0], b[0])));
}

/** Fixed field order and sorted maps, so that equal profiles are equal text. */
function tidy(s: Summary): Summary {
  const o: Record<string, unknown> = { type: "summary", kind: s.kind };
  for (const k of ["path", "pattern", "names", "temporaryOf", "interpreter", "scripts", "addr", "role", "op", "capability", "probe", "ops", "okOps", "syscalls", "calls", "ok", "errors", "pending", "programs", "argv", "evidence", "values", "cwdUnknown", "bytesRead", "bytesWritten", "bytesSent", "bytesReceived"] as const) {
    const v = k === "errors" ? sortObj(s.errors) : s[k];
    if (v !== undefined) o[k] = v;
  }
  return o as unknown as Summary;
}

/** Replaces the entries under any directory with more than `n` of them by one "dir/**" summary. */
export function collapseDirs(all: Summary[], n: number): Summary[] {
  // searches that found nothing stay apart from what was really used
  const files: Summary[] = [], rest: Summary[] = [];
  for (const s of all) (s.kind === "file" && s.path?.startsWith("/") && !s.probe ? files : rest).push(s);
  const folded = collapseUnder(files, (s) => s.path!, n, (dir, items) => {
    // DIR/** is the tools' glob; DIR keeps the globs any of its items had in it
    const path = dir + "/**";
    const mask = new Array<boolean>(path.length).fill(false).fill(true, dir.length + 1);
    for (const s of items) maskOf(s.path!, s.pattern).slice(0, dir.length + 1).forEach((b, i) => { if (b) mask[i] = true; });
    const g: Summary = clone({ ...items[0], path });
    delete g.probe;
    for (const s of items.slice(1)) mergeInto(g, s);
    g.pattern = patternOfMask(path, mask);          // the items' own patterns are of other paths
    return g;
  });
  return [...folded, ...rest];
}
