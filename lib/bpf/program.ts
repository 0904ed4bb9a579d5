// The bpftrace program of the bpftrace backend, written from one table: for each traced system call,
// its number on x86-64 and arm64 and how each argument is carried. The program prints one
// tab-separated line per event (trace-records(5), BPFTRACE OUTPUT); lib/bpf/bpftrace.ts reads the lines
// back with the same table. bpf/leastpriv.bt is the program for x86-64; trace-run writes the one for the
// machine it runs on.
//
// bpftrace runs it with `-f json`: each printf comes as one JSON line, its text escaped by bpftrace, so that
// no byte a program passes (a newline in an argument, a tab in a name) can break the framing; bpftrace
// 0.17's printf cannot escape a string itself. Within a line the one free text (a string, a name, comm)
// is the last field, and each piece names the argument it is for, so that a piece lost is known as lost.
//
// Only tracepoints are used (no kprobes or kfuncs): raw_syscalls:sys_enter/sys_exit, sched's fork and
// exit, cgroup_mkdir. Two syscall probes rather than one pair per call: attaching a tracepoint costs
// tens of milliseconds, both on the way in and on the way out, and 230 of them took 8 s to attach and 11 s
// to detach. Pointers are saved at sys_enter and read at sys_exit, when the page that holds the string has
// been faulted in by the call itself; execve's strings are read at entry, because a successful exec
// replaces the memory they were in.

/** How an argument is carried:
 *  d dirfd (int), i int, l long, u unsigned long, s string read at exit, S string read at entry,
 *  v argv read at entry, a sockaddr read at exit, m a msghdr's msg_name read at exit,
 *  p two ints at a pointer (pipe2, socketpair), f the u64 a pointer points to (clone3 and openat2 flags),
 *  _ not carried (null in the record). An optional ":decoder" names how lib/bpf/bpftrace.ts prints the value. */
export interface BpfCall {
  name: string;          // as strace and the records name it
  nr: { x86_64: number; aarch64: number };   // -1: the architecture does not have it
  args: string[];        // in the call's order, each "code" or "code:decoder"
  fields: string[];      // the kernel's names of the arguments, for the reader
}

const T: [string, number, number, string][] = [
  // name, x86-64 number, arm64 number, "field:code[:decoder] …"
  ["open", 2, -1, "filename:s flags:i:open mode:i:mode"],
  ["openat", 257, 56, "dfd:d filename:s flags:i:open mode:i:mode"],
  ["openat2", 437, 437, "dfd:d filename:s how:f:open usize:_"],
  ["creat", 85, -1, "pathname:s mode:i:mode"],
  ["stat", 4, -1, "filename:s statbuf:_"],
  ["lstat", 6, -1, "filename:s statbuf:_"],
  ["newfstatat", 262, 79, "dfd:d filename:s statbuf:_ flag:i:at"],
  ["statx", 332, 291, "dfd:d filename:s flags:i:at mask:_ buffer:_"],
  ["access", 21, -1, "filename:s mode:i:access"],
  ["faccessat", 269, 48, "dfd:d filename:s mode:i:access"],
  ["faccessat2", 439, 439, "dfd:d filename:s mode:i:access flags:i:at"],
  ["readlink", 89, -1, "path:s buf:_ bufsiz:i"],
  ["readlinkat", 267, 78, "dfd:d pathname:s buf:_ bufsiz:i"],
  ["mkdir", 83, -1, "pathname:s mode:i:mode"],
  ["mkdirat", 258, 34, "dfd:d pathname:s mode:i:mode"],
  ["rmdir", 84, -1, "pathname:s"],
  ["unlink", 87, -1, "pathname:s"],
  ["unlinkat", 263, 35, "dfd:d pathname:s flag:i:unlinkat"],
  ["rename", 82, -1, "oldname:s newname:s"],
  ["renameat", 264, 38, "olddfd:d oldname:s newdfd:d newname:s"],
  ["renameat2", 316, 276, "olddfd:d oldname:s newdfd:d newname:s flags:i"],
  ["link", 86, -1, "oldname:s newname:s"],
  ["linkat", 265, 37, "olddfd:d oldname:s newdfd:d newname:s flags:i:at"],
  ["symlink", 88, -1, "oldname:s newname:s"],
  ["symlinkat", 266, 36, "oldname:s newdfd:d newname:s"],
  ["chmod", 90, -1, "filename:s mode:i:mode"],
  ["fchmodat", 268, 53, "dfd:d filename:s mode:i:mode"],
  ["fchmodat2", 452, 452, "dfd:d filename:s mode:i:mode flags:i:at"],
  ["chown", 92, -1, "filename:s user:i group:i"],
  ["lchown", 94, -1, "filename:s user:i group:i"],
  ["fchownat", 260, 54, "dfd:d filename:s user:i group:i flag:i:at"],
  ["truncate", 76, 45, "path:s length:l"],
  ["utimensat", 280, 88, "dfd:d filename:s utimes:_ flags:i:at"],
  ["chdir", 80, 49, "filename:s"],
  ["fchdir", 81, 50, "fd:i"],
  ["chroot", 161, 51, "filename:s"],
  ["mknod", 133, -1, "filename:s mode:i:mknod dev:i"],
  ["mknodat", 259, 33, "dfd:d filename:s mode:i:mknod dev:i"],
  ["execve", 59, 221, "filename:S argv:v envp:_"],
  ["execveat", 322, 281, "fd:d filename:S argv:v envp:_ flags:i:at"],
  ["getxattr", 191, 8, "pathname:s name:s value:_ size:l"],
  ["lgetxattr", 192, 9, "pathname:s name:s value:_ size:l"],
  ["setxattr", 188, 5, "pathname:s name:s value:_ size:l flags:i"],
  ["lsetxattr", 189, 6, "pathname:s name:s value:_ size:l flags:i"],
  ["listxattr", 194, 11, "pathname:s list:_ size:l"],
  ["removexattr", 197, 14, "pathname:s name:s"],
  ["statfs", 137, 43, "pathname:s buf:_"],
  ["inotify_add_watch", 254, 27, "fd:i pathname:s mask:i"],
  ["mount", 165, 40, "dev_name:s dir_name:s type:s flags:u data:_"],
  ["umount2", 166, 39, "name:s flags:i"],
  ["pivot_root", 155, 41, "new_root:s put_old:s"],
  ["swapon", 167, 224, "specialfile:s swap_flags:i"],
  ["swapoff", 168, 225, "specialfile:s"],
  ["acct", 163, 89, "name:s"],
  ["close", 3, 57, "fd:i"],
  ["dup", 32, 23, "fildes:i"],
  ["dup2", 33, -1, "oldfd:i newfd:i"],
  ["dup3", 292, 24, "oldfd:i newfd:i flags:i:open"],
  ["fcntl", 72, 25, "fd:i cmd:i:fcntl arg:l"],
  ["fchmod", 91, 52, "fd:i mode:i:mode"],
  ["fchown", 93, 55, "fd:i user:i group:i"],
  ["ftruncate", 77, 46, "fd:i length:l"],
  ["fstat", 5, 80, "fd:i statbuf:_"],
  ["getdents64", 217, 61, "fd:i dirent:_ count:i"],
  ["pipe2", 293, 59, "fildes:p flags:i:open"],
  ["socket", 41, 198, "family:i:family type:i:socktype protocol:i"],
  ["socketpair", 53, 199, "family:i:family type:i:socktype protocol:i usockvec:p"],
  ["connect", 42, 203, "fd:i uservaddr:a addrlen:i"],
  ["bind", 49, 200, "fd:i umyaddr:a addrlen:i"],
  ["listen", 50, 201, "fd:i backlog:i"],
  ["accept", 43, 202, "fd:i upeer_sockaddr:a upeer_addrlen:_"],
  ["accept4", 288, 242, "fd:i upeer_sockaddr:a upeer_addrlen:_ flags:i:socktype"],
  ["sendto", 44, 206, "fd:i buff:_ len:l flags:i addr:a addr_len:i"],
  ["sendmsg", 46, 211, "fd:i msg:m flags:i"],
  ["recvfrom", 45, 207, "fd:i ubuf:_ size:l flags:i addr:a addr_len:_"],
  ["recvmsg", 47, 212, "fd:i msg:m flags:i"],
  ["clone", 56, 220, "clone_flags:u:clone newsp:_ parent_tidptr:_ child_tidptr:_ tls:_"],
  ["clone3", 435, 435, "uargs:f:clone size:l"],
  ["fork", 57, -1, ""],
  ["vfork", 58, -1, ""],
  ["kill", 62, 129, "pid:i sig:i:signal"],
  ["tkill", 200, 130, "pid:i sig:i:signal"],
  ["tgkill", 234, 131, "tgid:i pid:i sig:i:signal"],
  ["rt_sigqueueinfo", 129, 138, "pid:i sig:i:signal uinfo:_"],
  ["rt_tgsigqueueinfo", 297, 240, "tgid:i pid:i sig:i:signal uinfo:_"],
  ["pidfd_send_signal", 424, 424, "pidfd:i sig:i:signal info:_ flags:u"],
  ["prctl", 157, 167, "option:i:prctl arg2:l arg3:l arg4:l arg5:l"],
  ["seccomp", 317, 277, "op:i flags:i uargs:_"],
  ["ptrace", 101, 117, "request:l pid:l addr:_ data:_"],
  ["setns", 308, 268, "fd:i flags:i:clone"],
  ["unshare", 272, 97, "unshare_flags:u:clone"],
  ["setuid", 105, 146, "uid:i"],
  ["setgid", 106, 144, "gid:i"],
  ["setreuid", 113, 145, "ruid:i euid:i"],
  ["setregid", 114, 143, "rgid:i egid:i"],
  ["setresuid", 117, 147, "ruid:i euid:i suid:i"],
  ["setresgid", 119, 149, "rgid:i egid:i sgid:i"],
  ["setgroups", 116, 159, "gidsetsize:i grouplist:_"],
  ["setfsuid", 122, 151, "uid:i"],
  ["setfsgid", 123, 152, "gid:i"],
  ["capset", 126, 91, "header:_ data:_"],
  ["init_module", 175, 105, "umod:_ len:l uargs:s"],
  ["finit_module", 313, 273, "fd:i uargs:s flags:i"],
  ["delete_module", 176, 106, "name_user:s flags:i"],
  ["bpf", 321, 280, "cmd:i uattr:_ size:i"],
  ["kexec_load", 246, 104, "entry:l nr_segments:l segments:_ flags:l"],
  ["kexec_file_load", 320, 294, "kernel_fd:i initrd_fd:i cmdline_len:l cmdline_ptr:_ flags:l"],
  ["reboot", 169, 142, "magic1:i magic2:i cmd:i arg:_"],
  ["sethostname", 170, 161, "name:s len:i"],
  ["setdomainname", 171, 162, "name:s len:i"],
  ["settimeofday", 164, 170, "tv:_ tz:_"],
  ["clock_settime", 227, 112, "which_clock:i tp:_"],
  ["iopl", 172, -1, "level:i"],
  ["ioperm", 173, -1, "from:l num:l turn_on:i"],
  ["perf_event_open", 298, 241, "attr_uptr:_ pid:i cpu:i group_fd:i flags:l"],
  ["syslog", 103, 116, "type:i buf:_ len:i"],
  ["open_by_handle_at", 304, 265, "mountdirfd:d handle:_ flags:i:open"],
  ["process_vm_readv", 310, 270, "pid:i lvec:_ liovcnt:l rvec:_ riovcnt:l flags:l"],
  ["process_vm_writev", 311, 271, "pid:i lvec:_ liovcnt:l rvec:_ riovcnt:l flags:l"],
  ["quotactl", 179, 60, "cmd:i special:s id:i addr:_"],
  ["fanotify_init", 300, 262, "flags:i event_f_flags:i"],
  ["fanotify_mark", 301, 263, "fanotify_fd:i flags:i mask:l dfd:d pathname:s"],
  ["memfd_create", 319, 279, "uname:s flags:i"],
];

export const BPF_CALLS: BpfCall[] = T.map(([name, x86, arm, spec]) => {
  const parts = spec ? spec.split(" ") : [];
  return {
    name, nr: { x86_64: x86, aarch64: arm },
    fields: parts.map((p) => p.split(":")[0]),
    args: parts.map((p) => p.split(":").slice(1).join(":")),
  };
});

/** The table's version, said in the run record's tracerVersion of both kernel backends ("call table
 *  2"): 2 adds every call that sends a signal besides kill (tkill, tgkill, rt_sigqueueinfo,
 *  rt_tgsigqueueinfo, pidfd_send_signal), so that a Landlock ruleset may scope signals from a trace
 *  that shows none; a trace that does not say it (an older one, or bpftrace output parsed on its own)
 *  may not show them. */
export const CALL_TABLE = 2;

/** The format version printed in the ready line; lib/bpf/bpftrace.ts refuses lines of another. Format 3
 *  adds the T lines (each CPU's tick); format 2 had none, and is still read. */
export const BPF_FORMAT = 3;
/** How often each CPU prints its T line (per second). */
export const TICK_HZ = 25;
/** bpftrace's string size: 200 is the largest Debian's bpftrace 0.17 accepts (256 is refused). */
export const BPF_STRLEN = 200;
/** How many of an exec's argv strings are read. */
export const ARGV_MAX = 32;
export type Arch = "x86_64" | "aarch64";

export const code = (a: string): string => a.split(":")[0];

/** The calls of an architecture, by number. */
export function callsByNumber(arch: string): Map<number, BpfCall> {
  const a: Arch = arch === "aarch64" ? "aarch64" : "x86_64";
  return new Map(BPF_CALLS.filter((c) => c.nr[a] >= 0).map((c) => [c.nr[a], c]));
}

/** The extra fields a call's C line carries after its six raw arguments, in this order. */
export function extrasOf(c: BpfCall): { kind: string; arg: number }[] {
  const out: { kind: string; arg: number }[] = [];
  c.args.forEach((a, i) => { if (code(a) === "s") out.push({ kind: "s", arg: i }); });
  c.args.forEach((a, i) => { if (code(a) === "a" || code(a) === "m") out.push({ kind: code(a), arg: i }); });
  c.args.forEach((a, i) => { if (code(a) === "p") out.push({ kind: "p", arg: i }); });
  c.args.forEach((a, i) => { if (code(a) === "f") out.push({ kind: "f", arg: i }); });
  return out;
}

/** The program text for an architecture. */
export function bpfProgram(arch: Arch = "x86_64"): string {
  const calls = BPF_CALLS.filter((c) => c.nr[arch] >= 0);
  const nr = (name: string) => BPF_CALLS.find((c) => c.name === name)!.nr[arch];
  const table: string[] = [];
  for (const c of calls) {
    const n = c.nr[arch];
    const ex = extrasOf(c);
    const s = ex.filter((e) => e.kind === "s").map((e) => e.arg + 1);
    const set = [`@want[${n}] = 1;`];
    if (ex.length) set.push(`@n[${n}] = ${ex.length};`);
    s.forEach((a, k) => set.push(`@s${k + 1}[${n}] = ${a};`));
    for (const e of ex) {
      if (e.kind === "a") set.push(`@sa[${n}] = ${e.arg + 1};`);
      if (e.kind === "m") set.push(`@mh[${n}] = ${e.arg + 1};`);
      if (e.kind === "p") set.push(`@pr[${n}] = ${e.arg + 1};`);
      if (e.kind === "f") set.push(`@dr[${n}] = ${e.arg + 1};`);
    }
    table.push(`  ${set.join(" ")}   // ${c.name}`);
  }
  const pick = (k: string) => `(${k} == 1 ? @a0[tid] : (${k} == 2 ? @a1[tid] : (${k} == 3 ? @a2[tid] : (${k} == 4 ? @a3[tid] : (${k} == 5 ? @a4[tid] : @a5[tid])))))`;
  const execve = nr("execve"), execveat = nr("execveat"), clone = nr("clone"), clone3 = nr("clone3"), vfork = nr("vfork");
  const strings = [1, 2, 3].map((k) => `  $k = @s${k}[$nr];
  if ($k) { printf("+\\t%lld\\t%d\\t%d\\t%s\\n", $ns, tid, $k, str(uptr(${pick("$k")}))); }`).join("\n");
  return `// leastpriv's bpftrace program (format ${BPF_FORMAT}, ${arch}); written by lib/bpf/program.ts, do not edit.
// Usage: BPFTRACE_STRLEN=${BPF_STRLEN} bpftrace -B line -f json leastpriv.bt MODE ID [CWD]
//   MODE 1: trace process ID and every task it starts (a process tree);
//   MODE 2: trace cgroup ID (a running container; the id is the inode of its cgroup v2 directory);
//   MODE 3: trace every cgroup made from now on (a new container; trace-run keeps the one it started).
//   CWD, the working directory of process ID, is only repeated in the ready line, for relative paths.
// Lines: R ready, C a call's end, X an exec's start, + a piece of the C or X line before it (same time
// and thread; the argument it is for), F a fork, E an exit, S an exec by a thread that takes over its
// leader's pid, M a new cgroup, T a CPU's tick, Q the end;
// fields are separated by tabs, the free text last; each line is one JSON message of bpftrace's
// (trace-records(5), BPFTRACE OUTPUT).

BEGIN {
  if ($1 == 1) { @t[$2] = 1; }
  if ($1 == 2) { @cg[$2] = 1; }
  // the calls traced, by number, and which arguments are strings (s1-s3), a sockaddr (sa), a msghdr (mh),
  // a pair of ints (pr) or a pointer to flags (dr), as 1-based positions
${table.join("\n")}
  printf("R\\t${BPF_FORMAT}\\t%s\\t%lld\\t%d\\t%lld\\t${arch}\\t%s\\n", strftime("%s.%f", nsecs), nsecs, $1, $2, str($3));
}

tracepoint:raw_syscalls:sys_enter /@t[tid] || @cg[cgroup]/ {
  $nr = args->id;
  // fcntl only where it changes the fd table: F_DUPFD, F_SETFD, F_DUPFD_CLOEXEC
  $skip = $nr == ${nr("fcntl")} && args->args[1] != 0 && args->args[1] != 2 && args->args[1] != 1030;
  if (@want[$nr] && !$skip) {
    @on[tid] = $nr + 1;
    @a0[tid] = args->args[0]; @a1[tid] = args->args[1]; @a2[tid] = args->args[2];
    @a3[tid] = args->args[3]; @a4[tid] = args->args[4]; @a5[tid] = args->args[5];
    // a successful exec replaces the memory its strings are in: read them now, the path in the X line
    // with how many argv strings follow (up to ${ARGV_MAX}), each in a piece of its own
    if ($nr == ${execve} || $nr == ${execveat}) {
      $ns = nsecs;
      $path = @a0[tid]; $argv = @a1[tid];
      if ($nr == ${execveat}) { $path = @a1[tid]; $argv = @a2[tid]; }
      $c = (uint64)0;
      while ($c < ${ARGV_MAX}) {
        if (*(uint64 *)uptr($argv + $c * 8) == 0) { break; }
        $c++;
      }
      printf("X\\t%lld\\t%d\\t%d\\t%lld\\t%d\\t%d\\t%s\\n", $ns, pid, tid, cgroup, $nr, $c, str(uptr($path)));
      $i = (uint64)0;
      while ($i < $c) {
        printf("+\\t%lld\\t%d\\t%d\\t%s\\n", $ns, tid, $i, str(uptr(*(uint64 *)uptr($argv + $i * 8))));
        $i++;
      }
    }
  }
}

// A call's end: the C line with the six raw arguments and how many pieces follow; then each string,
// socket address, pair of ints or pointed-to flags in a "+" line of its own, tagged with the C line's
// time, the thread and the argument's position (1-based). bpftrace reads one buffer per CPU, so another CPU's lines can come between
// them; the tags put them back together (and each printf stays within the 512-byte BPF stack).
tracepoint:raw_syscalls:sys_exit /@on[tid]/ {
  $nr = @on[tid] - 1;
  $ns = nsecs;
  printf("C\\t%lld\\t%d\\t%d\\t%lld\\t%d\\t%ld\\t%ld\\t%ld\\t%ld\\t%ld\\t%ld\\t%ld\\t%d\\t%s\\n", $ns, pid, tid, cgroup, $nr, args->ret,
    (int64)@a0[tid], (int64)@a1[tid], (int64)@a2[tid], (int64)@a3[tid], (int64)@a4[tid], (int64)@a5[tid], @n[$nr], comm);
${strings}
  // a socket address: family, port (network order), IPv4 address or the two halves of an IPv6 one, then
  // for a unix socket 1 when the name is abstract (a leading NUL) and the path or name
  $k = @sa[$nr];
  $p = (uint64)0;
  if ($k) { $p = ${pick("$k")}; }
  $j = @mh[$nr];
  if ($j) { $p = *(uint64 *)uptr(${pick("$j")}); $k = $j; }
  if ($k) {
    $f = $p ? *(uint16 *)uptr($p) : (uint16)0;
    if ($f == 1) {
      $z = (uint64)(*(uint8 *)uptr($p + 2) == 0 ? 1 : 0);
      printf("+\\t%lld\\t%d\\t%d\\t1,0,0,0,0,%d,%s\\n", $ns, tid, $k, $z, str(uptr($p + 2 + $z)));
    } else if ($f == 2) {
      printf("+\\t%lld\\t%d\\t%d\\t2,%d,%u,0,0,0,\\n", $ns, tid, $k, *(uint16 *)uptr($p + 2), *(uint32 *)uptr($p + 4));
    } else if ($f == 10) {
      printf("+\\t%lld\\t%d\\t%d\\t10,%d,0,%llx,%llx,0,\\n", $ns, tid, $k, *(uint16 *)uptr($p + 2), *(uint64 *)uptr($p + 8), *(uint64 *)uptr($p + 16));
    } else {
      printf("+\\t%lld\\t%d\\t%d\\t%d,0,0,0,0,0,\\n", $ns, tid, $k, $f);
    }
  }
  $k = @pr[$nr];
  if ($k) { $q = ${pick("$k")}; printf("+\\t%lld\\t%d\\t%d\\t%d,%d\\n", $ns, tid, $k, *(int32 *)uptr($q), *(int32 *)uptr($q + 4)); }
  $k = @dr[$nr];
  if ($k) { printf("+\\t%lld\\t%d\\t%d\\t%lu\\n", $ns, tid, $k, *(uint64 *)uptr(${pick("$k")})); }
  delete(@on[tid]);
}

tracepoint:sched:sched_process_fork /@t[tid] || @cg[cgroup]/ {
  if (@t[tid]) { @t[args->child_pid] = 1; }
  // the clone flags say whether the child shares its parent's cwd and fd table
  $flags = @on[tid] == ${clone + 1} ? @a0[tid] : (@on[tid] == ${clone3 + 1} ? *(uint64 *)uptr(@a0[tid]) : (@on[tid] == ${vfork >= 0 ? vfork + 1 : -1} ? (uint64)0x4100 : (uint64)0));
  printf("F\\t%lld\\t%d\\t%d\\t%lld\\t%d\\t%lu\\t%s\\n", nsecs, pid, tid, cgroup, args->child_pid, $flags, comm);
}

tracepoint:sched:sched_process_exit /@t[tid] || @cg[cgroup]/ {
  printf("E\\t%lld\\t%d\\t%d\\t%lld\\t%d\\t%s\\n", nsecs, pid, tid, cgroup, curtask->exit_code, comm);
  delete(@t[tid]); delete(@on[tid]);
  delete(@a0[tid]); delete(@a1[tid]); delete(@a2[tid]); delete(@a3[tid]); delete(@a4[tid]); delete(@a5[tid]);
}

// a thread other than the leader called execve: it goes on under the leader's pid (the leader's exit was
// printed a moment ago), so its state moves there
tracepoint:sched:sched_process_exec /args->old_pid != args->pid && (@t[args->old_pid] || @cg[cgroup])/ {
  $o = args->old_pid; $n = args->pid;
  if (@t[$o]) { @t[$n] = 1; delete(@t[$o]); }
  @on[$n] = @on[$o]; @a0[$n] = @a0[$o]; @a1[$n] = @a1[$o]; @a2[$n] = @a2[$o];
  @a3[$n] = @a3[$o]; @a4[$n] = @a4[$o]; @a5[$n] = @a5[$o];
  delete(@on[$o]); delete(@a0[$o]); delete(@a1[$o]); delete(@a2[$o]); delete(@a3[$o]); delete(@a4[$o]); delete(@a5[$o]);
  printf("S\\t%lld\\t%d\\t%d\\t%lld\\t%d\\t%s\\n", nsecs, $n, $n, cgroup, $o, comm);
}

// bpftrace reads one CPU's buffer at a time, so a line can come well after later lines of another CPU.
// Each CPU's lines come in the order that CPU wrote them: its tick says that CPU's earlier lines are
// all in, idle or not, so the reader can put lines in time order without guessing how late one may be.
profile:hz:${TICK_HZ} {
  printf("T\\t%lld\\t%d\\n", nsecs, cpu);
}

tracepoint:cgroup:cgroup_mkdir /$1 == 3 && args->root == 0/ {
  @cg[args->id] = 1;
  printf("M\\t%lld\\t%lld\\t%d\\t%s\\n", nsecs, args->id, args->level, str(args->path));
}

END {
  printf("Q\\t%lld\\n", nsecs);
  clear(@t); clear(@cg); clear(@on); clear(@a0); clear(@a1); clear(@a2); clear(@a3); clear(@a4); clear(@a5);
  clear(@want); clear(@n); clear(@s1); clear(@s2); clear(@s3); clear(@sa); clear(@mh); clear(@pr); clear(@dr);
}
`;
}
