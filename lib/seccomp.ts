// A Docker/OCI seccomp profile from a profile's system calls: allow what the traced program called,
// plus what the container runtime itself calls between installing the filter and starting the
// program; everything else fails with EPERM, except system calls newer than many libcs' fallbacks,
// which fail with ENOSYS so that libc falls back to an older call (clone3 → clone).

import type { ProfileHeader } from "./summary.js";

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

/** Calls a libc tries first and falls back from on ENOSYS (but not on EPERM). */
export const FALLBACK_SYSCALLS = ["cachestat", "clone3", "close_range", "epoll_pwait2", "faccessat2", "fchmodat2", "futex_waitv", "openat2"];

const ARCHES: Record<string, string[]> = {
  x64: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  arm64: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
};

export interface SeccompProfile {
  comment: string;
  defaultAction: "SCMP_ACT_ERRNO";
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number; comment: string }[];
}

export function seccompProfile(h: ProfileHeader, version: string, arch = process.arch): SeccompProfile {
  const traced = Object.keys(h.syscalls);
  const allow = [...new Set([...traced, ...RUNTIME_SYSCALLS])].sort();
  const enosys = FALLBACK_SYSCALLS.filter((s) => !allow.includes(s));
  const what = [...h.commands.map((c) => c.join(" ")), ...(h.containers ?? []).map((c) => "container " + c.slice(0, 12))].join("; ");
  const when = h.start !== undefined ? new Date(h.start * 1000).toISOString() : "an unknown time";
  const p: SeccompProfile = {
    comment: `trace-policy ${version}: the system calls of ${what || "a traced run"} traced at ${when}, and the container runtime's own`,
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    architectures: ARCHES[arch] ?? [],
    syscalls: [
      { names: allow, action: "SCMP_ACT_ALLOW", comment: `${traced.length} called by the traced program, the rest by the runtime between filter and execve` },
    ],
  };
  if (enosys.length) p.syscalls.push({ names: enosys, action: "SCMP_ACT_ERRNO", errnoRet: 38, comment: "ENOSYS, so that libc falls back to an older call" });
  return p;
}
