// A Landlock ruleset (landlock(7)) from a profile, in landlockconfig's JSON shape: the file rights
// each hierarchy needs for what the run did, the TCP ports it bound and connected, and scoping of
// abstract unix sockets and signals when the run used neither across its own processes.
// Names are JSON strings, exact by construction (no render target: nothing here is parsed as syntax).

import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { decodeBytes, encodeBytes } from "../io/bytes.js";
import { isGlob, type Pattern } from "../pattern.js";
import type { ProfileHeader, Summary } from "../profile/summary.js";

/** File system rights, their bits (linux/landlock.h) and the ABI that brought each. */
export const FS_RIGHTS: { [name: string]: { bit: number; abi: number } } = {
  execute: { bit: 1 << 0, abi: 1 }, write_file: { bit: 1 << 1, abi: 1 }, read_file: { bit: 1 << 2, abi: 1 },
  read_dir: { bit: 1 << 3, abi: 1 }, remove_dir: { bit: 1 << 4, abi: 1 }, remove_file: { bit: 1 << 5, abi: 1 },
  make_char: { bit: 1 << 6, abi: 1 }, make_dir: { bit: 1 << 7, abi: 1 }, make_reg: { bit: 1 << 8, abi: 1 },
  make_sock: { bit: 1 << 9, abi: 1 }, make_fifo: { bit: 1 << 10, abi: 1 }, make_block: { bit: 1 << 11, abi: 1 },
  make_sym: { bit: 1 << 12, abi: 1 }, refer: { bit: 1 << 13, abi: 2 }, truncate: { bit: 1 << 14, abi: 3 },
  ioctl_dev: { bit: 1 << 15, abi: 5 },
};
export const NET_RIGHTS: { [name: string]: { bit: number; abi: number } } = {
  bind_tcp: { bit: 1 << 0, abi: 4 }, connect_tcp: { bit: 1 << 1, abi: 4 },
};
export const SCOPES: { [name: string]: { bit: number; abi: number } } = {
  abstract_unix_socket: { bit: 1 << 0, abi: 6 }, signal: { bit: 1 << 1, abi: 6 },
};

// every file right but ioctl_dev: handling it would refuse the terminal ioctls (TCGETS, window size)
// of a program run from a shell, which the trace shows only as ioctl(fd) without the device
const HANDLED_FS = Object.keys(FS_RIGHTS).filter((r) => r !== "ioctl_dev");
const FILE_ONLY = new Set(["execute", "write_file", "read_file", "truncate"]);

export interface LandlockRuleset {
  abi: number;
  ruleset: { handledAccessFs: string[]; handledAccessNet: string[]; scoped?: string[] }[];
  pathBeneath?: { allowedAccess: string[]; parent: string[] }[];
  netPort?: { allowedAccess: string[]; port: number[] }[];
}

/** What the host says about the files of a profile: read when the policy is written, on the host that will run it. */
export interface HostFacts {
  /** "dir", "file" (regular), "special" (a device, fifo or socket), or undefined when the path is not there. */
  type(path: string): "dir" | "file" | "special" | undefined;
  /** The program the kernel starts first for an executable: its ELF interpreter (PT_INTERP) or its `#!` line's. */
  interpreter(path: string): string | undefined;
  /** The host's files a pattern stands for (a few at most). */
  matches(p: Pattern): string[];
}

const SIGNAL_CALLS = ["kill", "tkill", "tgkill", "pidfd_send_signal", "rt_sigqueueinfo", "rt_tgsigqueueinfo"];

const parentOf = (p: string) => p.slice(0, p.lastIndexOf("/")) || "/";

// /proc/self and /proc/thread-self name a different directory in each process: a rule on the one the
// enforcer resolves holds for the command it execs (same pid) and for none of its children, whose
// /proc/<pid> does not exist yet. Landlock finds a rule by walking up from the file, so the only rule
// that reaches them all is on /proc itself: the rights the run used there, granted beneath all of /proc.
const PROC_SELF = /^\/proc\/(self|thread-self)(\/|$)/;
const procHome = (p: string) => (PROC_SELF.test(p) ? "/proc" : p);

/** The ruleset and the warnings to print (what it left out, and why). */
export function landlockRuleset(h: ProfileHeader, items: Summary[], host: HostFacts): { ruleset: LandlockRuleset; warnings: string[] } {
  const warnings: string[] = [];
  const rights = new Map<string, Set<string>>();
  const files = items.filter((s) => s.kind === "file" && !s.probe && s.path?.startsWith("/"));
  const made = new Set<string>();
  for (const s of files) if ((s.okOps ?? []).includes("mkdir") && !s.pattern) made.add(s.path!);
  // a directory the run made is not there when the sandbox starts: what is done in it is granted on
  // the nearest directory above it that is
  const home = (p: string) => { while (made.has(p) && p !== "/") p = parentOf(p); return p; };
  const viaProc = new Map<string, Set<string>>();
  const grant = (path0: string, ...rs: string[]) => {
    const path = procHome(home(path0));
    if (path === "/proc" && path0 !== "/proc") {
      let v = viaProc.get(path0);
      if (!v) viaProc.set(path0, (v = new Set()));
      for (const r of rs) v.add(r);
    }
    let s = rights.get(path);
    if (!s) rights.set(path, (s = new Set()));
    for (const r of rs) s.add(r);
  };

  // the kernel opens a program's loader (or a script's interpreter) itself: no traced call shows it
  const interpreters = (p: string) => {
    const seen = new Set<string>();
    for (let x = host.interpreter(p); x && !seen.has(x); x = host.interpreter(x)) { seen.add(x); grant(x, "execute", "read_file"); }
  };
  const renameFrom = new Set<string>(), renameTo = new Set<string>(), links = new Set<string>();
  for (const s of files) {
    const ops = new Set(s.okOps ?? []);
    if (!ops.size) continue;
    // a name the tools made general (<pid>, <tmp>, DIR/**) stands for the hierarchy above its first glob
    const first = s.pattern?.findIndex(isGlob) ?? -1;
    if (first >= 0) {
      const lit = s.pattern!.slice(0, first).join("");
      const dir = lit.slice(0, Math.max(lit.lastIndexOf("/"), 0)) || "/";
      const rs = new Set<string>();
      if (ops.has("read") || ops.has("readwrite") || ops.has("map")) rs.add("read_file");
      if (ops.has("list")) rs.add("read_dir");
      if (ops.has("write") || ops.has("readwrite") || ops.has("create")) rs.add("write_file").add("truncate");
      if (ops.has("create")) rs.add("make_reg").add("read_file");
      if (ops.has("delete")) rs.add("remove_file");
      if (ops.has("mkdir")) rs.add("make_dir").add("remove_dir");
      if (ops.has("exec")) {
        rs.add("execute").add("read_file");
        // the program's loader or interpreter: from the files on the host the pattern stands for
        for (const f of host.matches(s.pattern!)) interpreters(f);
      }
      if (ops.has("symlink")) rs.add("make_sym");
      if (ops.has("rename")) rs.add("remove_file").add("make_reg");
      if (rs.size) grant(dir, ...rs);
      if (dir === "/") warnings.push(`${s.path}: a pattern from the root: its rights are granted on all of /`);
      continue;
    }
    const p = s.path!;
    const isDir = host.type(p) === "dir" || ops.has("list") || ops.has("mkdir");
    // O_CREAT on a device (`>/dev/null`) creates nothing: that is a write to the device itself
    const created = ops.has("create") && !ops.has("list") && host.type(p) !== "special";
    if (ops.has("create") && !created) grant(p, "write_file", "truncate");
    // a file the run made does not exist when the sandbox starts (or is made anew): its rights go on the directory
    const at = created ? parentOf(p) : p;
    if (ops.has("read") || ops.has("readwrite") || ops.has("map")) grant(at, isDir && !created ? "read_dir" : "read_file");
    if (ops.has("list")) grant(p, "read_dir");
    if (ops.has("write") || ops.has("readwrite")) grant(at, "write_file", "truncate");
    if (created) {
      grant(parentOf(p), "make_reg", "write_file", "read_file", "truncate");
      if ((s.syscalls ?? []).some((c) => c.startsWith("rename"))) { renameTo.add(home(parentOf(p))); grant(parentOf(p), "remove_file"); }
    }
    if (ops.has("delete")) grant(parentOf(p), isDir || (s.syscalls ?? []).includes("rmdir") ? "remove_dir" : "remove_file");
    if (ops.has("mkdir")) grant(parentOf(p), "make_dir");
    if (ops.has("symlink")) grant(parentOf(p), "make_sym");
    if (ops.has("mknod")) grant(parentOf(p), "make_fifo");
    if (ops.has("rename")) { renameFrom.add(home(parentOf(p))); grant(parentOf(p), isDir ? "remove_dir" : "remove_file"); }
    if (ops.has("link")) { links.add(home(parentOf(p))); grant(parentOf(p), "make_reg"); }
    if (ops.has("exec")) { grant(p, "execute", "read_file"); interpreters(p); }
  }
  // a file moved or linked into another directory needs `refer` on both (within one directory it does not)
  // and the kernel refuses a move that would give the file rights it did not have where it was: the
  // directories of one move get the same rights
  for (const group of [new Set([...renameFrom, ...renameTo]), links]) {
    if (group.size < 2) continue;
    const all = new Set<string>(["refer"]);
    for (const d of group) for (const r of rights.get(d) ?? []) all.add(r);
    for (const d of group) grant(d, ...all);
  }
  if (viaProc.size) {
    const names = [...viaProc.keys()].sort();
    const rs = HANDLED_FS.filter((r) => [...viaProc.values()].some((v) => v.has(r)));
    warnings.push(`${names[0]}${names.length > 1 ? ` and ${names.length - 1} more` : ""}: granted beneath all of /proc (${rs.join(", ")}): a child's /proc/<pid> is not there when the sandbox starts`);
  }
  // a unix socket bound to a path is a file made in its directory
  for (const s of items) {
    if (s.kind === "net" && s.role === "local" && s.addr?.family === "unix" && s.addr.path?.startsWith("/")) grant(parentOf(s.addr.path), "make_sock");
  }

  const rules = rights;
  for (const [p, rs] of rules) {
    // rights beyond a file's own mean nothing on a file (the kernel refuses the rule): keep those that apply
    if (host.type(p) === "file" || host.type(p) === "special") for (const r of [...rs]) if (!FILE_ONLY.has(r)) rs.delete(r);
    if (!rs.size) rules.delete(p);
  }

  // TCP: the ports bound, and the ports connected to (an attempt counts unless a policy refused it)
  const bind = new Set<number>(), connect = new Set<number>();
  const tcp = (s: Summary) => (s.addr?.family === "inet" || s.addr?.family === "inet6") && !/^UDP|^RAW/.test(s.addr.proto ?? "") && typeof s.addr.port === "number";
  for (const s of items) {
    if (s.kind !== "net" || !tcp(s)) continue;
    const tried = s.ok > 0 || Object.keys(s.errors).some((e) => e !== "EACCES" && e !== "EPERM");
    if (!tried) continue;
    if (s.role === "local" && s.ops.includes("bind")) bind.add(s.addr!.port!);
    if (s.role === "peer" && s.ops.includes("connect")) connect.add(s.addr!.port!);
  }

  // scoping: the run's own processes may still reach each other; only what is outside is cut off
  const scoped: string[] = [];
  const boundAbstract = new Set(items.filter((s) => s.kind === "net" && s.role === "local" && s.addr?.abstract !== undefined).map((s) => s.addr!.abstract!));
  const outside = items.filter((s) => s.kind === "net" && s.role === "peer" && s.addr?.abstract !== undefined && !boundAbstract.has(s.addr.abstract));
  if (outside.length) warnings.push(`abstract unix sockets not scoped: the run connected to @${outside[0].addr!.abstract}${outside.length > 1 ? ` and ${outside.length - 1} more` : ""}`);
  else scoped.push("abstract_unix_socket");
  const signals = SIGNAL_CALLS.filter((c) => h.syscalls[c]);
  if (signals.length) warnings.push(`signals not scoped: the run sent signals (${signals.join(", ")}), perhaps to processes outside it`);
  // strace's default filter (%process) has every one of them; the kernel backends' call table since
  // its version 2 (said in the tracer's version), and before it only kill
  else if (h.tracers.some((t) => !t.startsWith("strace") && Number(/\bcall table (\d+)/.exec(t)?.[1] ?? 0) < 2)) warnings.push("signals not scoped: the trace does not show every call that sends one (trace with strace, or a newer trace-run)");
  else scoped.push("signal");

  const byRights = new Map<string, string[]>();
  for (const [p, rs] of [...rules].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const key = HANDLED_FS.filter((r) => rs.has(r)).join(",");
    byRights.set(key, [...(byRights.get(key) ?? []), p]);
  }
  const used = new Set<string>([...rules.values()].flatMap((s) => [...s]));
  let abi = 4;                                              // TCP is always handled: no port is open unless listed
  if (scoped.length) abi = 6;
  for (const r of used) abi = Math.max(abi, FS_RIGHTS[r].abi);
  const ruleset: LandlockRuleset = {
    abi,
    ruleset: [{ handledAccessFs: HANDLED_FS, handledAccessNet: Object.keys(NET_RIGHTS), ...(scoped.length ? { scoped } : {}) }],
  };
  if (byRights.size) ruleset.pathBeneath = [...byRights].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, parent]) => ({ allowedAccess: k.split(","), parent }));
  const ports: LandlockRuleset["netPort"] = [];
  const num = (a: number, b: number) => a - b;
  if (bind.size) ports.push({ allowedAccess: ["bind_tcp"], port: [...bind].sort(num) });
  if (connect.size) ports.push({ allowedAccess: ["connect_tcp"], port: [...connect].sort(num) });
  if (ports.length) ruleset.netPort = ports;
  return { ruleset, warnings };
}

/** HostFacts read from this machine's file system (paths as the profile spells them: raw bytes kept). */
export function realHostFacts(): HostFacts {
  const types = new Map<string, "dir" | "file" | "special" | undefined>();
  return {
    type(p) {
      if (!types.has(p)) {
        try {
          const st = statSync(encodeBytes(p));
          types.set(p, st.isDirectory() ? "dir" : st.isFile() ? "file" : "special");
        } catch { types.set(p, undefined); }
      }
      return types.get(p);
    },
    matches(pattern) {
      // one regular expression per path segment, so that only matching directories are read
      const segs: string[] = [""];
      const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      for (const x of pattern) {
        if (isGlob(x)) { segs[segs.length - 1] += x.glob === "**" ? "\0" : "[^/]+"; continue; }
        const parts = x.split("/");
        segs[segs.length - 1] += esc(parts[0]);
        for (const q of parts.slice(1)) segs.push(esc(q));
      }
      if (segs[0] !== "" || segs.some((g) => g.includes("\0") && g !== "\0")) return [];
      const out: string[] = [];
      const step = (dir: string, i: number, budget: { n: number }) => {
        if (out.length >= 16) return;
        if (i === segs.length) { out.push(dir); return; }
        if (--budget.n < 0) return;
        const g = segs[i];
        let names: string[];
        try { names = readdirSync(encodeBytes(dir || "/"), { encoding: "buffer" }).map((b) => decodeBytes(b)).sort(); } catch { return; }
        const re = g === "\0" ? undefined : new RegExp("^" + g + "$");
        for (const n of names) {
          const p = dir + "/" + n;
          if (!re) { step(p, i + 1, budget); step(p, i, budget); continue; }     // ** : here, or deeper
          if (re.test(n)) step(p, i + 1, budget);
        }
      };
      step("", 1, { n: 256 });
      return out;
    },
    interpreter(p) {
      let fd: number | undefined;
      try {
        fd = openSync(encodeBytes(p), "r");
        const head = Buffer.alloc(4096);
        const n = readSync(fd, head, 0, head.length, 0);
        return interpreterOf(head.subarray(0, n), (off, len) => { const b = Buffer.alloc(len); return b.subarray(0, readSync(fd!, b, 0, len, off)); });
      } catch { return undefined; } finally { if (fd !== undefined) closeSync(fd); }
    },
  };
}

/** The interpreter an executable's first bytes name: `#!PATH` or an ELF's PT_INTERP (64- or 32-bit, either byte order). */
export function interpreterOf(head: Buffer, read: (offset: number, length: number) => Buffer): string | undefined {
  if (head[0] === 0x23 && head[1] === 0x21) {
    const line = head.subarray(2, head.indexOf(10) < 0 ? head.length : head.indexOf(10)).toString("latin1").trim();
    const x = line.split(/[ \t]/)[0];
    return x?.startsWith("/") ? x : undefined;
  }
  if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const is64 = head[4] === 2, le = head[5] === 1;
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u64 = (b: Buffer, o: number) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
  const phoff = is64 ? u64(head, 32) : u32(head, 28);
  const phentsize = u16(head, is64 ? 54 : 42), phnum = u16(head, is64 ? 56 : 44);
  if (phentsize < (is64 ? 56 : 32) || phnum > 256) return undefined;
  const ph = read(phoff, phentsize * phnum);
  for (let i = 0; i + phentsize <= ph.length; i += phentsize) {
    if (u32(ph, i) !== 3) continue;                               // PT_INTERP
    const off = is64 ? u64(ph, i + 8) : u32(ph, i + 4), size = is64 ? u64(ph, i + 32) : u32(ph, i + 16);
    if (size < 2 || size > 4096) return undefined;
    const s = read(off, size);
    const z = s.indexOf(0);
    return s.subarray(0, z < 0 ? s.length : z).toString("latin1");
  }
  return undefined;
}
