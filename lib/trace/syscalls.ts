// Classification is data: for each syscall of x86-64 and aarch64, its kind, its operation, and which
// arguments hold the path, the directory fd it is relative to, the second path, the fd and the address.
// Adding a syscall is one line in TABLE.

import type { Json, Kind } from "../io/records.js";

export interface Spec {
  kind: Kind;
  op: string;
  path?: number;        // argument index of a path
  dirfd?: number;       // argument index of the dirfd that `path` is relative to
  path2?: number;
  dirfd2?: number;
  fd?: number;          // argument index of an fd the call acts on
  addr?: number;        // argument index of a sockaddr (or msghdr for *msg)
  flags?: number;       // argument index of open flags (op decided by them)
  emptyPath?: number;   // argument index of flags that may hold AT_EMPTY_PATH
  byFd?: boolean;       // kind/op follow what the fd is (file read vs socket recv vs pipe)
}

type Row = [Kind, string, Omit<Spec, "kind" | "op">?];

const TABLE: Record<string, Row> = {
  // files: opening (op from the flags), metadata, directories, names
  open: ["file", "open", { path: 0, flags: 1 }],
  openat: ["file", "open", { dirfd: 0, path: 1, flags: 2 }],
  openat2: ["file", "open", { dirfd: 0, path: 1, flags: 2 }],
  creat: ["file", "create", { path: 0 }],
  open_by_handle_at: ["priv", "open", { fd: 0 }],
  name_to_handle_at: ["file", "stat", { dirfd: 0, path: 1, emptyPath: 4 }],
  stat: ["file", "stat", { path: 0 }], lstat: ["file", "stat", { path: 0 }], stat64: ["file", "stat", { path: 0 }],
  lstat64: ["file", "stat", { path: 0 }], newfstatat: ["file", "stat", { dirfd: 0, path: 1, emptyPath: 3 }],
  fstatat64: ["file", "stat", { dirfd: 0, path: 1, emptyPath: 3 }], statx: ["file", "stat", { dirfd: 0, path: 1, emptyPath: 2 }],
  fstat: ["file", "stat", { fd: 0 }], fstat64: ["file", "stat", { fd: 0 }],
  statfs: ["file", "stat", { path: 0 }], fstatfs: ["file", "stat", { fd: 0 }], statfs64: ["file", "stat", { path: 0 }],
  access: ["file", "access", { path: 0 }], faccessat: ["file", "access", { dirfd: 0, path: 1 }],
  faccessat2: ["file", "access", { dirfd: 0, path: 1, emptyPath: 3 }],
  readlink: ["file", "readlink", { path: 0 }], readlinkat: ["file", "readlink", { dirfd: 0, path: 1 }],
  getdents: ["file", "list", { fd: 0 }], getdents64: ["file", "list", { fd: 0 }],
  mkdir: ["file", "mkdir", { path: 0 }], mkdirat: ["file", "mkdir", { dirfd: 0, path: 1 }],
  mknod: ["file", "mknod", { path: 0 }], mknodat: ["file", "mknod", { dirfd: 0, path: 1 }],
  unlink: ["file", "delete", { path: 0 }], unlinkat: ["file", "delete", { dirfd: 0, path: 1 }],
  rmdir: ["file", "delete", { path: 0 }],
  rename: ["file", "rename", { path: 0, path2: 1 }], renameat: ["file", "rename", { dirfd: 0, path: 1, dirfd2: 2, path2: 3 }],
  renameat2: ["file", "rename", { dirfd: 0, path: 1, dirfd2: 2, path2: 3 }],
  link: ["file", "link", { path: 0, path2: 1 }], linkat: ["file", "link", { dirfd: 0, path: 1, dirfd2: 2, path2: 3 }],
  symlink: ["file", "symlink", { path2: 0, path: 1 }], symlinkat: ["file", "symlink", { path2: 0, dirfd: 1, path: 2 }],
  chmod: ["file", "chmod", { path: 0 }], fchmod: ["file", "chmod", { fd: 0 }], fchmodat: ["file", "chmod", { dirfd: 0, path: 1 }],
  chown: ["file", "chown", { path: 0 }], lchown: ["file", "chown", { path: 0 }], fchown: ["file", "chown", { fd: 0 }],
  fchownat: ["file", "chown", { dirfd: 0, path: 1, emptyPath: 4 }],
  truncate: ["file", "write", { path: 0 }], ftruncate: ["file", "write", { fd: 0 }], fallocate: ["file", "write", { fd: 0 }],
  utime: ["file", "utime", { path: 0 }], utimes: ["file", "utime", { path: 0 }], futimesat: ["file", "utime", { dirfd: 0, path: 1 }],
  utimensat: ["file", "utime", { dirfd: 0, path: 1 }],
  setxattr: ["file", "setxattr", { path: 0 }], lsetxattr: ["file", "setxattr", { path: 0 }], fsetxattr: ["file", "setxattr", { fd: 0 }],
  removexattr: ["file", "setxattr", { path: 0 }], lremovexattr: ["file", "setxattr", { path: 0 }], fremovexattr: ["file", "setxattr", { fd: 0 }],
  getxattr: ["file", "getxattr", { path: 0 }], lgetxattr: ["file", "getxattr", { path: 0 }], fgetxattr: ["file", "getxattr", { fd: 0 }],
  listxattr: ["file", "getxattr", { path: 0 }], llistxattr: ["file", "getxattr", { path: 0 }], flistxattr: ["file", "getxattr", { fd: 0 }],
  chdir: ["file", "chdir", { path: 0 }], fchdir: ["file", "chdir", { fd: 0 }],
  inotify_add_watch: ["file", "watch", { fd: 0, path: 1 }],
  mmap: ["file", "map", { fd: 4 }], mmap2: ["file", "map", { fd: 4 }],
  // fd I/O: a file read, a socket recv, a pipe read — decided by what the fd is
  read: ["file", "read", { fd: 0, byFd: true }], pread64: ["file", "read", { fd: 0, byFd: true }],
  readv: ["file", "read", { fd: 0, byFd: true }], preadv: ["file", "read", { fd: 0, byFd: true }], preadv2: ["file", "read", { fd: 0, byFd: true }],
  write: ["file", "write", { fd: 0, byFd: true }], pwrite64: ["file", "write", { fd: 0, byFd: true }],
  writev: ["file", "write", { fd: 0, byFd: true }], pwritev: ["file", "write", { fd: 0, byFd: true }], pwritev2: ["file", "write", { fd: 0, byFd: true }],
  sendfile: ["file", "write", { fd: 0, byFd: true }], sendfile64: ["file", "write", { fd: 0, byFd: true }],
  copy_file_range: ["file", "write", { fd: 2, byFd: true }], splice: ["file", "write", { fd: 2, byFd: true }],
  close: ["other", "close", { fd: 0 }], dup: ["other", "dup", { fd: 0 }], dup2: ["other", "dup", { fd: 0 }], dup3: ["other", "dup", { fd: 0 }],
  fcntl: ["other", "fcntl", { fd: 0 }], fcntl64: ["other", "fcntl", { fd: 0 }], ioctl: ["other", "ioctl", { fd: 0 }],
  lseek: ["other", "seek", { fd: 0 }], flock: ["other", "lock", { fd: 0 }], fsync: ["other", "sync", { fd: 0 }],
  fdatasync: ["other", "sync", { fd: 0 }], fadvise64: ["other", "advise", { fd: 0 }],
  // network
  socket: ["net", "socket"], connect: ["net", "connect", { fd: 0, addr: 1 }], bind: ["net", "bind", { fd: 0, addr: 1 }],
  listen: ["net", "listen", { fd: 0 }], accept: ["net", "accept", { fd: 0, addr: 1 }], accept4: ["net", "accept", { fd: 0, addr: 1 }],
  sendto: ["net", "send", { fd: 0, addr: 4 }], sendmsg: ["net", "send", { fd: 0, addr: 1 }], sendmmsg: ["net", "send", { fd: 0, addr: 1 }],
  recvfrom: ["net", "recv", { fd: 0, addr: 4 }], recvmsg: ["net", "recv", { fd: 0, addr: 1 }], recvmmsg: ["net", "recv", { fd: 0, addr: 1 }],
  getsockname: ["net", "sockname", { fd: 0 }], getpeername: ["net", "sockname", { fd: 0 }],
  getsockopt: ["net", "sockopt", { fd: 0 }], setsockopt: ["net", "sockopt", { fd: 0 }], shutdown: ["net", "shutdown", { fd: 0 }],
  // programs
  execve: ["exec", "exec", { path: 0 }], execveat: ["exec", "exec", { dirfd: 0, path: 1, emptyPath: 4 }],
  // processes
  clone: ["proc", "fork"], clone3: ["proc", "fork"], fork: ["proc", "fork"], vfork: ["proc", "fork"],
  exit: ["proc", "exit"], exit_group: ["proc", "exit"], wait4: ["proc", "wait"], waitid: ["proc", "wait"],
  kill: ["proc", "signal"], tkill: ["proc", "signal"], tgkill: ["proc", "signal"], pidfd_send_signal: ["proc", "signal"],
  pidfd_open: ["proc", "pidfd"], prctl: ["proc", "prctl"], arch_prctl: ["proc", "prctl"], seccomp: ["proc", "seccomp"],
  setpgid: ["proc", "session"], setsid: ["proc", "session"], prlimit64: ["proc", "rlimit"], setrlimit: ["proc", "rlimit"],
  setpriority: ["proc", "sched"], sched_setscheduler: ["proc", "sched"], sched_setaffinity: ["proc", "sched"],
  personality: ["proc", "personality"],
  // credentials
  setuid: ["cred", "setuid"], setreuid: ["cred", "setuid"], setresuid: ["cred", "setuid"], setfsuid: ["cred", "setuid"],
  setgid: ["cred", "setgid"], setregid: ["cred", "setgid"], setresgid: ["cred", "setgid"], setfsgid: ["cred", "setgid"],
  setgroups: ["cred", "setgroups"], capset: ["cred", "capset"], capget: ["cred", "getid"],
  getuid: ["cred", "getid"], geteuid: ["cred", "getid"], getgid: ["cred", "getid"], getegid: ["cred", "getid"],
  getresuid: ["cred", "getid"], getresgid: ["cred", "getid"], getgroups: ["cred", "getid"],
  // privileged: these need a capability whatever their arguments
  mount: ["priv", "mount", { path: 1 }], umount: ["priv", "umount", { path: 0 }], umount2: ["priv", "umount", { path: 0 }],
  pivot_root: ["priv", "pivot_root", { path: 0, path2: 1 }], chroot: ["priv", "chroot", { path: 0 }],
  move_mount: ["priv", "mount"], fsopen: ["priv", "mount"], fsconfig: ["priv", "mount"], fsmount: ["priv", "mount"],
  fspick: ["priv", "mount"], open_tree: ["priv", "mount", { dirfd: 0, path: 1 }], mount_setattr: ["priv", "mount", { dirfd: 0, path: 1 }],
  setns: ["priv", "setns", { fd: 0 }], unshare: ["priv", "unshare"],
  init_module: ["priv", "module"], finit_module: ["priv", "module", { fd: 0 }], delete_module: ["priv", "module"],
  bpf: ["priv", "bpf"], ptrace: ["priv", "ptrace"], process_vm_readv: ["priv", "ptrace"], process_vm_writev: ["priv", "ptrace"],
  kcmp: ["priv", "ptrace"], kexec_load: ["priv", "kexec"], kexec_file_load: ["priv", "kexec"], reboot: ["priv", "reboot"],
  swapon: ["priv", "swap", { path: 0 }], swapoff: ["priv", "swap", { path: 0 }], sethostname: ["priv", "sethostname"],
  setdomainname: ["priv", "sethostname"], settimeofday: ["priv", "settime"], clock_settime: ["priv", "settime"],
  adjtimex: ["priv", "settime"], clock_adjtime: ["priv", "settime"], iopl: ["priv", "ioport"], ioperm: ["priv", "ioport"],
  acct: ["priv", "acct", { path: 0 }], quotactl: ["priv", "quota"], perf_event_open: ["priv", "perf"], syslog: ["priv", "syslog"],
  fanotify_init: ["priv", "fanotify"], fanotify_mark: ["priv", "fanotify"], vhangup: ["priv", "vhangup"],
  // inter-process communication
  pipe: ["ipc", "pipe"], pipe2: ["ipc", "pipe"], socketpair: ["ipc", "socketpair"], memfd_create: ["ipc", "memfd"],
  shmget: ["ipc", "shm"], shmat: ["ipc", "shm"], shmctl: ["ipc", "shm"], shmdt: ["ipc", "shm"],
  msgget: ["ipc", "msg"], msgsnd: ["ipc", "msg"], msgrcv: ["ipc", "msg"], msgctl: ["ipc", "msg"],
  semget: ["ipc", "sem"], semop: ["ipc", "sem"], semtimedop: ["ipc", "sem"], semctl: ["ipc", "sem"],
  mq_open: ["ipc", "mq"], mq_unlink: ["ipc", "mq"], mq_timedsend: ["ipc", "mq"], mq_timedreceive: ["ipc", "mq"],
};

const SPECS = new Map<string, Spec>();
for (const [name, [kind, op, extra]] of Object.entries(TABLE)) SPECS.set(name, { kind, op, ...extra });
const OTHER: Spec = { kind: "other", op: "other" };

/** The calls that make a process or thread (op fork): a reader learns a child's pid from their result. */
export const FORK_CALLS: ReadonlySet<string> = new Set([...SPECS].filter(([, s]) => s.op === "fork").map(([n]) => n));

export function specOf(syscall: string): Spec {
  return SPECS.get(syscall) ?? OTHER;
}

/** File operations that change something (data, names or metadata), and those that read. */
export const WRITE_OPS = new Set(["write", "readwrite", "create", "delete", "rename", "link", "symlink", "mkdir", "mknod", "chmod", "chown", "utime", "setxattr"]);
export const READ_OPS = new Set(["read", "list", "readlink", "getxattr", "watch"]);

/** The text of a flags value however strace printed it: "O_RDONLY|O_CLOEXEC", or -X verbose's comment. */
export function flagText(v: Json | undefined): string {
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  if (v && typeof v === "object" && !Array.isArray(v)) {
    if (typeof v.comment === "string") return v.comment;
    if ("flags" in v) return flagText(v.flags);       // openat2's struct open_how
  }
  return "";
}

// x86-64 values, used only when strace printed flags as numbers (-X raw)
const O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_TRUNC = 0o1000, O_DIRECTORY = 0o200000, O_PATH = 0o10000000;

/** The operation an open performs, from its flags. */
export function openOp(flags: string): string {
  let acc = "read", creat = false, trunc = false, dir = false, path = false;
  if (/^(0x[0-9a-f]+|0[0-7]*|\d+)$/.test(flags)) {
    const n = Number(flags.startsWith("0x") ? flags : flags.startsWith("0") && flags.length > 1 ? "0o" + flags.slice(1) : flags);
    acc = n & O_RDWR ? "readwrite" : n & O_WRONLY ? "write" : "read";
    creat = !!(n & O_CREAT); trunc = !!(n & O_TRUNC); dir = !!(n & O_DIRECTORY); path = !!(n & O_PATH);
  } else {
    for (const f of flags.split("|")) {
      if (f === "O_WRONLY") acc = "write";
      else if (f === "O_RDWR") acc = "readwrite";
      else if (f === "O_CREAT" || f === "O_TMPFILE") creat = true;
      else if (f === "O_TRUNC") trunc = true;
      else if (f === "O_DIRECTORY") dir = true;
      else if (f === "O_PATH") path = true;
    }
  }
  if (path) return "stat";
  if (creat) return "create";
  if (dir && acc === "read") return "list";
  if (trunc && acc === "read") return "write";
  return acc;
}
