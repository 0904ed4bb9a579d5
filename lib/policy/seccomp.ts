// A Docker/OCI seccomp profile from a profile's system calls: allow what the traced program called,
// plus what the container runtime itself calls between installing the filter and starting the
// program; everything else fails with EPERM, except system calls newer than many libcs' fallbacks,
// which fail with ENOSYS so that libc falls back to an older call (clone3 → clone). Where the trace
// shows a small closed set of argument values, a call is allowed with those values only.

import type { ProfileHeader } from "../profile/summary.js";
import { AF, CLONE, CLONE_NEW_MASK, PERSONALITY, PR, SOCK, SOCK_TYPE_MASK, valueNumber, type ArgValues, type ValueSet } from "../profile/arg-values.js";

/**
 * What runc calls after it has installed the filter and before the container's program starts
 * (it drops capabilities, changes user, checks the working directory, closes fds, signals its parent,
 * execs; its Go runtime needs futex, signals and memory calls). From the runtime's own issues
 * (moby#22252, runc#2097) and checked against runc 1.1 here: a profile without getcwd fails with
 * "failed to verify if current working directory is safe".
 */
export const RUNTIME_SYSCALLS = [
  "access", "arch_prctl", "brk", "capget", "capset", "chdir", "clock_gettime", "close", "epoll_ctl", "epoll_pwait",
  "epoll_wait", "execve", "exit", "exit_group", "faccessat", "faccessat2", "fchdir", "fchown", "fcntl", "fstat",
  "fstatfs", "futex", "getcwd", "getdents64", "getpid", "getppid", "getrandom", "gettid", "madvise", "mmap",
  "mprotect", "munmap", "nanosleep", "newfstatat", "openat", "prctl", "read", "readlinkat", "rt_sigaction",
  "rt_sigprocmask", "rt_sigreturn", "sched_yield", "setgid", "setgroups", "setresgid", "setresuid", "setuid",
  "sigaltstack", "statfs", "tgkill", "write",
];

/**
 * The prctl options runc calls after installing the filter: it drops the bounding set and the ambient
 * capabilities and keeps its capabilities across setuid (runc 1.1 here: PR_CAPBSET_DROP, PR_CAP_AMBIENT,
 * PR_SET_KEEPCAPS between prctl(PR_SET_SECCOMP) and execve in a trace of docker run).
 */
export const RUNTIME_PRCTL = ["PR_CAPBSET_DROP", "PR_CAP_AMBIENT", "PR_SET_KEEPCAPS"];

/** Calls a libc tries first and falls back from on ENOSYS (but not on EPERM). */
export const FALLBACK_SYSCALLS = ["cachestat", "clone3", "close_range", "epoll_pwait2", "faccessat2", "fchmodat2", "futex_waitv", "openat2"];

/** The architectures a profile names: the host's and its compat ones (libseccomp's names). */
export const ARCHES: Record<string, string[]> = {
  "x86-64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  arm64: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
};
const NODE_ARCH: Record<string, string> = { x64: "x86-64", arm64: "arm64" };
export const hostArch = (): string | undefined => NODE_ARCH[process.arch];

export interface SeccompArg { index: number; value: number; valueTwo?: number; op: "SCMP_CMP_EQ" | "SCMP_CMP_MASKED_EQ" }
export interface SeccompRule { names: string[]; action: string; errnoRet?: number; args?: SeccompArg[]; comment: string }

export interface SeccompProfile {
  comment: string;
  defaultAction: "SCMP_ACT_ERRNO";
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: SeccompRule[];
}

export interface SeccompOptions {
  /** Allow socket, clone, unshare, personality and prctl only with the argument values traced (default true). */
  argFilters?: boolean;
  /** "x86-64" or "arm64" (default: the host's). */
  arch?: string;
}

export function seccompProfile(h: ProfileHeader, version: string, opts: SeccompOptions = {}): SeccompProfile {
  const traced = Object.keys(h.syscalls);
  let allow = [...new Set([...traced, ...RUNTIME_SYSCALLS])].sort();
  const byValue = opts.argFilters === false ? [] : argRules(h.argValues ?? {}, traced);
  const filtered = new Set(byValue.flatMap((r) => r.names));
  // a call allowed whatever its arguments would make its filters pointless; clone3 takes its flags in
  // memory, which seccomp cannot read, so where clone is filtered it fails with ENOSYS and libc uses clone
  const noClone3 = filtered.has("clone");
  allow = allow.filter((s) => !filtered.has(s) && !(noClone3 && s === "clone3"));
  const enosys = FALLBACK_SYSCALLS.filter((s) => !allow.includes(s));
  const what = [...h.commands.map((c) => c.join(" ")), ...(h.containers ?? []).map((c) => "container " + c.slice(0, 12))].join("; ");
  const when = h.start !== undefined ? new Date(h.start * 1000).toISOString() : "an unknown time";
  const p: SeccompProfile = {
    comment: `trace-policy ${version}: the system calls of ${what || "a traced run"} traced at ${when}, and the container runtime's own`,
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    architectures: ARCHES[opts.arch ?? hostArch() ?? ""] ?? [],
    syscalls: [
      { names: allow, action: "SCMP_ACT_ALLOW", comment: `${traced.length} called by the traced program, the rest by the runtime between filter and execve` },
      ...byValue,
    ],
  };
  if (enosys.length) p.syscalls.push({ names: enosys, action: "SCMP_ACT_ERRNO", errnoRet: 38, comment: "ENOSYS, so that libc falls back to an older call" });
  return p;
}

/** The numbers of a value set, or undefined when it is "any" or a value is not known. */
function numbers(set: ValueSet | undefined, table: { [name: string]: number }, signals = false): number[] | undefined {
  if (set === undefined || set === "any") return undefined;
  const out: number[] = [];
  for (const v of set) {
    const n = valueNumber(v, table, signals);
    if (n === undefined) return undefined;
    out.push(n);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

const ALLOW = "SCMP_ACT_ALLOW";

/** One rule per allowed value (seccomp ORs rules, ANDs the comparisons within one). */
function argRules(v: ArgValues, traced: string[]): SeccompRule[] {
  const rules: SeccompRule[] = [];
  const shown = (set: ValueSet | undefined) => (set === undefined || set === "any" ? "" : set.join(", "));
  if (traced.includes("socket")) {
    const fams = numbers(v.socket?.family, AF);
    const types = numbers(v.socket?.type, SOCK);
    if (fams) {
      const bases = types && [...new Set(types.map((t) => t & SOCK_TYPE_MASK))].sort((a, b) => a - b);
      const why = `socket: only the families traced (${shown(v.socket!.family)})` + (bases ? ` and their types (${shown(v.socket!.type)}), whatever SOCK_CLOEXEC and SOCK_NONBLOCK` : "");
      for (const f of fams) {
        for (const t of bases ?? [undefined]) {
          const args: SeccompArg[] = [{ index: 0, value: f, op: "SCMP_CMP_EQ" }];
          if (t !== undefined) args.push({ index: 1, value: SOCK_TYPE_MASK, valueTwo: t, op: "SCMP_CMP_MASKED_EQ" });
          rules.push({ names: ["socket"], action: ALLOW, args, comment: why });
        }
      }
    }
  }
  // clone's namespace bits as traced by clone and clone3 (glibc's clone3 callers fall back to clone)
  if (traced.includes("clone") || traced.includes("clone3")) {
    const sets = [traced.includes("clone") ? numbers(v.clone?.flags, CLONE, true) : [], traced.includes("clone3") ? numbers(v.clone3?.flags, CLONE, true) : []];
    if (sets.every((s) => s !== undefined)) {
      const ns = [...new Set(sets.flat().map((f) => f & CLONE_NEW_MASK))].sort((a, b) => a - b);
      const seen = [...new Set([...(traced.includes("clone") ? (v.clone!.flags as string[]) : []), ...(traced.includes("clone3") ? (v.clone3!.flags as string[]) : [])])];
      const why = ns.every((n) => n === 0) ? "clone: no new namespaces (none traced)" : `clone: only the namespace flags traced (${seen.join(", ")})`;
      for (const n of ns) rules.push({ names: ["clone"], action: ALLOW, args: [{ index: 0, value: CLONE_NEW_MASK, valueTwo: n, op: "SCMP_CMP_MASKED_EQ" }], comment: why });
    }
  }
  if (traced.includes("unshare")) {
    const flags = numbers(v.unshare?.flags, CLONE);
    if (flags) for (const f of flags) rules.push({ names: ["unshare"], action: ALLOW, args: [{ index: 0, value: f, op: "SCMP_CMP_EQ" }], comment: `unshare: only the flags traced (${shown(v.unshare!.flags)})` });
  }
  if (traced.includes("personality")) {
    const ps = numbers(v.personality?.persona, PERSONALITY);
    if (ps) for (const p of ps) rules.push({ names: ["personality"], action: ALLOW, args: [{ index: 0, value: p, op: "SCMP_CMP_EQ" }], comment: `personality: only the personalities traced (${shown(v.personality!.persona)})` });
  }
  // the runtime's own options always; the program's where the trace shows each (an older profile's
  // prctl calls without values leave prctl unfiltered)
  const ps = traced.includes("prctl") ? numbers(v.prctl?.option, PR) : [];
  if (ps) {
    const names = [...new Set([...(traced.includes("prctl") ? (v.prctl!.option as string[]) : []), ...RUNTIME_PRCTL])];
    const all = [...new Set([...ps, ...RUNTIME_PRCTL.map((n) => PR[n]!)])].sort((a, b) => a - b);
    const why = `prctl: only the options traced and the runtime's (${names.sort().join(", ")})`;
    for (const o of all) rules.push({ names: ["prctl"], action: ALLOW, args: [{ index: 0, value: o, op: "SCMP_CMP_EQ" }], comment: why });
  }
  return rules;
}
