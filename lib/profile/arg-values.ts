// The argument values a profile keeps for the system calls a seccomp policy can filter by value
// (socket families and types, clone and unshare flags, personalities, prctl options), and their name →
// number tables.

import type { Json, SyscallRecord } from "../io/records.js";

/** A set of values as the tracer printed them, or "any": too many, or one the tracer did not show. */
export type ValueSet = string[] | "any";
export type ArgValues = { [syscall: string]: { [arg: string]: ValueSet } };

/** More distinct values than this and a policy could not call them a small closed set. */
export const MAX_VALUES = 16;

/** The arguments kept, per system call: a name, and how to find its value in a record's args. */
const KEPT: { [syscall: string]: { [arg: string]: (args: Json[]) => Json | undefined } } = {
  socket: { family: (a) => a[0], type: (a) => a[1] },
  // strace shows clone's flags as `flags=...` wherever its argument order puts them; clone3's in a struct
  clone: { flags: (a) => { const f = a.find((x) => typeof x === "string" && x.startsWith("flags=")); return typeof f === "string" ? f.slice(6) : undefined; } },
  clone3: { flags: (a) => field(field(a[0], "in") ?? a[0], "flags") },     // strace: {in, out} where the kernel wrote back
  unshare: { flags: (a) => a[0] },
  personality: { persona: (a) => a[0] },
  prctl: { option: (a) => a[0] },
};

function field(v: Json | undefined, k: string): Json | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? v[k] : undefined;
}

export const KEPT_SYSCALLS = Object.keys(KEPT);

function put(set: ValueSet | undefined, v: string | undefined): ValueSet {
  if (set === "any" || v === undefined) return "any";
  const s = set ?? [];
  if (s.includes(v)) return s;
  return s.length >= MAX_VALUES ? "any" : [...s, v].sort();
}

/** Union of two sets, "any" absorbing: associative and commutative, so merged runs equal one profile of both. */
export function unionValues(a: ValueSet | undefined, b: ValueSet | undefined): ValueSet {
  if (a === undefined) return b === undefined ? [] : b === "any" ? "any" : [...b];
  if (b === undefined) return a === "any" ? "any" : [...a];
  if (a === "any" || b === "any") return "any";
  const u = [...new Set([...a, ...b])].sort();
  return u.length > MAX_VALUES ? "any" : u;
}

/** Fold one call's values into `into`. */
export function addCall(into: ArgValues, e: SyscallRecord): void {
  const kept = KEPT[e.syscall];
  if (!kept) return;
  const m = (into[e.syscall] ??= {});
  for (const [name, find] of Object.entries(kept)) {
    const v = Array.isArray(e.args) ? find(e.args) : undefined;
    // a value the tracer lost or did not decode cannot be filtered on
    const text = typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined;
    m[name] = put(m[name], text);
  }
}

/**
 * Fold a profile header's values into `into`. A header that counted a kept call but holds no values
 * for it (an older profile) makes its values "any": otherwise its run's calls would be refused.
 */
export function addHeader(into: ArgValues, syscalls: { [name: string]: number }, values: ArgValues | undefined): void {
  for (const sc of KEPT_SYSCALLS) {
    if (!syscalls[sc]) continue;
    const m = (into[sc] ??= {});
    for (const name of Object.keys(KEPT[sc]!)) m[name] = unionValues(m[name], values?.[sc]?.[name] ?? "any");
  }
}

export function sortedValues(v: ArgValues): ArgValues {
  const o: ArgValues = {};
  for (const sc of Object.keys(v).sort()) {
    o[sc] = {};
    for (const a of Object.keys(v[sc]!).sort()) o[sc]![a] = v[sc]![a] === "any" ? "any" : [...(v[sc]![a] as string[])];
  }
  return o;
}

// Linux's values; the same on x86-64 and arm64 (and their 32-bit compat modes) for all of these.
export const AF: { [name: string]: number } = {
  AF_UNSPEC: 0, AF_UNIX: 1, AF_LOCAL: 1, AF_INET: 2, AF_AX25: 3, AF_IPX: 4, AF_APPLETALK: 5, AF_NETROM: 6,
  AF_BRIDGE: 7, AF_ATMPVC: 8, AF_X25: 9, AF_INET6: 10, AF_ROSE: 11, AF_DECnet: 12, AF_NETBEUI: 13,
  AF_SECURITY: 14, AF_KEY: 15, AF_NETLINK: 16, AF_ROUTE: 16, AF_PACKET: 17, AF_ASH: 18, AF_ECONET: 19,
  AF_ATMSVC: 20, AF_RDS: 21, AF_SNA: 22, AF_IRDA: 23, AF_PPPOX: 24, AF_WANPIPE: 25, AF_LLC: 26, AF_IB: 27,
  AF_MPLS: 28, AF_CAN: 29, AF_TIPC: 30, AF_BLUETOOTH: 31, AF_IUCV: 32, AF_RXRPC: 33, AF_ISDN: 34,
  AF_PHONET: 35, AF_IEEE802154: 36, AF_CAIF: 37, AF_ALG: 38, AF_NFC: 39, AF_VSOCK: 40, AF_KCM: 41,
  AF_QIPCRTR: 42, AF_SMC: 43, AF_XDP: 44, AF_MCTP: 45,
};
export const SOCK: { [name: string]: number } = {
  SOCK_STREAM: 1, SOCK_DGRAM: 2, SOCK_RAW: 3, SOCK_RDM: 4, SOCK_SEQPACKET: 5, SOCK_DCCP: 6, SOCK_PACKET: 10,
  SOCK_NONBLOCK: 0o4000, SOCK_CLOEXEC: 0o2000000,
};
/** socket()'s type is the type in these bits, or'd with SOCK_CLOEXEC and SOCK_NONBLOCK. */
export const SOCK_TYPE_MASK = 0xf;
export const CLONE: { [name: string]: number } = {
  CLONE_NEWTIME: 0x80, CLONE_VM: 0x100, CLONE_FS: 0x200, CLONE_FILES: 0x400, CLONE_SIGHAND: 0x800,
  CLONE_PIDFD: 0x1000, CLONE_PTRACE: 0x2000, CLONE_VFORK: 0x4000, CLONE_PARENT: 0x8000, CLONE_THREAD: 0x10000,
  CLONE_NEWNS: 0x20000, CLONE_SYSVSEM: 0x40000, CLONE_SETTLS: 0x80000, CLONE_PARENT_SETTID: 0x100000,
  CLONE_CHILD_CLEARTID: 0x200000, CLONE_DETACHED: 0x400000, CLONE_UNTRACED: 0x800000,
  CLONE_CHILD_SETTID: 0x1000000, CLONE_NEWCGROUP: 0x2000000, CLONE_NEWUTS: 0x4000000, CLONE_NEWIPC: 0x8000000,
  CLONE_NEWUSER: 0x10000000, CLONE_NEWPID: 0x20000000, CLONE_NEWNET: 0x40000000, CLONE_IO: 0x80000000,
  CLONE_CLEAR_SIGHAND: 0x100000000, CLONE_INTO_CGROUP: 0x200000000,
};
/** The namespace bits clone(2) takes (CLONE_NEWTIME only through clone3 and unshare). */
export const CLONE_NEW_MASK = 0x7e020000;
export const PERSONALITY: { [name: string]: number } = {
  PER_LINUX: 0, PER_BSD: 6, PER_LINUX32: 8, UNAME26: 0x20000, ADDR_NO_RANDOMIZE: 0x40000, FDPIC_FUNCPTRS: 0x80000,
  MMAP_PAGE_ZERO: 0x100000, ADDR_COMPAT_LAYOUT: 0x200000, READ_IMPLIES_EXEC: 0x400000, ADDR_LIMIT_32BIT: 0x800000,
  SHORT_INODE: 0x1000000, WHOLE_SECONDS: 0x2000000, STICKY_TIMEOUTS: 0x4000000, ADDR_LIMIT_3GB: 0x8000000,
};
/** prctl(2)'s options: lib/trace/prctl.ts (the kernel backends name them as strace does). */
export { PR } from "../trace/prctl.js";
const SIGNALS = new Set(["SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
  "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP",
  "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",
  "SIGPWR", "SIGSYS"]);

/**
 * The number a value stands for: names of `table` and numbers joined by `|` (as strace and the
 * bpftrace decoder print them). undefined when any part is not known: then no filter can be written.
 * `signals`: clone's low byte may name the exit signal, which is no flag and is left out.
 */
export function valueNumber(text: string, table: { [name: string]: number }, signals = false): number | undefined {
  let n = 0n;
  for (const raw of text.split("|")) {
    const t = raw.trim();
    if (signals && SIGNALS.has(t)) continue;
    let v: bigint;
    if (Object.hasOwn(table, t)) v = BigInt(table[t]!);
    else if (/^(0x[0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.test(t)) v = BigInt(t.startsWith("0x") ? t : /^0[0-7]+$/.test(t) ? "0o" + t.slice(1) : t);
    else if (/^AF_[0-9]+$/.test(t) && table === AF) v = BigInt(t.slice(3));     // the bpftrace decoder's unnamed family
    else return undefined;
    n |= v;
  }
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}
