// The record contract shared by every trace-* tool. man/trace-records.5 is the prose form of
// these types; a change here changes that page and the tests in the same commit.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export const RECORD_VERSION = 1;

export type Kind = "file" | "net" | "exec" | "proc" | "cred" | "priv" | "ipc" | "other";

/** A network endpoint: IP peers, unix sockets, netlink, or a socket known only by inode. */
export interface Addr {
  family: string;          // "inet", "inet6", "unix", "netlink", "packet", … or the AF_ name strace printed
  ip?: string;
  port?: number;
  path?: string;           // unix socket path
  abstract?: string;       // unix abstract name (without the leading NUL)
  proto?: string;          // TCP, UDP, TCPv6, UNIX, NETLINK… from -yy annotations
  inode?: number;          // socket inode when strace could not say more (another netns)
  netlink?: string;        // netlink sockets: the protocol (ROUTE, AUDIT, KOBJECT_UEVENT, …); port ids are not kept
}

export interface SourcePos {
  file: string;            // operand name, "-" for stdin
  line: number;            // 1-based
}

export interface RunRecord {
  type: "run";
  v: number;
  tracer: string;          // "strace", "bpftrace" or "ebpf"
  tracerVersion?: string;
  backend?: string;        // trace-run: what --backend asked, "auto" or a backend's name (`tracer` is the one that ran)
  skipped?: { [backend: string]: string };   // --backend auto: each backend passed over before `tracer`, and why
  argv?: string[];
  cwd?: string;
  uid?: number;
  user?: string;
  host?: string;
  kernel?: string;
  start?: number;          // epoch seconds
  flags?: string[];
  sources?: string[];      // trace-parse: the operands read
  [key: string]: Json | undefined;
}

export interface SyscallRecord {
  type: "syscall";
  pid: number | null;      // null: strace printed no pid (a single traced process)
  comm?: string;           // -Y
  time?: number;           // see trace-records(5): epoch seconds, or seconds since midnight/start
  syscall: string;
  args: Json[];
  ret: number | string | null;   // null for "= ?"
  errno?: string;
  errmsg?: string;
  retnote?: string;        // "(Timeout)", "(flags O_RDONLY)", "(INJECTED)", pid-ns comments …
  retfd?: Json;            // the annotation strace gave the returned fd/pid (-y, -Y)
  dur?: number;            // -T, seconds
  kind: Kind;
  op: string;
  ok: boolean | null;      // null when the call never returned (= ?) or its end was not seen
  path?: string;
  path2?: string;
  fd?: number;
  addr?: Addr;
  argv?: string[];
  cwdUnknown?: boolean;    // a relative path whose base directory is not known
  incomplete?: "no-start" | "no-end";   // an orphaned half of an unfinished/resumed pair
  detached?: boolean;
  interrupted?: boolean;   // ERESTART*: the kernel will restart or the call was cut short
  missing?: number[];      // positions in args the tracer lost (null there; nothing derived from them)
  pending?: boolean;       // a connect left under way (EINPROGRESS, EALREADY, EAGAIN): ok, its outcome comes later
  injected?: boolean;      // strace -e inject produced this result
  data?: string;           // -e read=/write= dump, hex
  stack?: string[];        // -k
  argvTruncated?: boolean; // strace cut an argv string (-s)
  pathTruncated?: boolean; // the tracer cut the path argument (strace -s, bpftrace's 200-byte strings): path is its start
  container?: string;      // trace-run of docker run: the container the call was made in
  runtime?: boolean;       // made by the container runtime setting the container up, not by its program
  containerPath?: boolean; // `path` is inside the container's root (after pivot_root), not the host's
  deleted?: boolean;       // the call was on a descriptor whose file had no name left (strace -yy "(deleted)"):
                           //   unlinked, or made with O_TMPFILE; `path` is the name it had
}

export interface SignalRecord {
  type: "signal";
  pid: number | null;
  comm?: string;
  time?: number;
  signal: string;
  stopped?: boolean;       // "--- stopped by SIGSTOP ---"
  info?: Json;
}

export interface ExitRecord {
  type: "exit";
  pid: number | null;
  comm?: string;
  time?: number;
  code?: number;           // exited with N
  signal?: string;         // killed by SIGX
  core?: boolean;
  supersededBy?: number;   // "+++ superseded by execve in pid N +++": thread N's execve took this pid
}

export interface InfoRecord {
  type: "info";            // strace's own messages: attach, detach, warnings
  pid?: number | null;
  time?: number;
  text: string;
}

export interface CountRecord {
  type: "count";           // a row of strace -c / -C summary
  syscall: string;
  calls: number;
  errors: number;
  seconds?: number;
  percent?: number;
  usecsPerCall?: number;
  total?: boolean;
  [key: string]: Json | undefined;
}

export interface UnparsedRecord {
  type: "unparsed";
  file: string;
  line: number;           // a binary framing's (the eBPF loader's): the frame's number
  offset?: number;         // a binary framing's: where the frame begins, in bytes from the input's start
  text: string;            // a binary framing's: the frame's first bytes in hex
  reason: string;
  truncated?: number;      // the line (frame) was longer than what text holds: its full length in bytes
}

export interface EndRecord {
  type: "end";
  lines?: number;
  records?: number;
  unparsed?: number;
  counts?: { [type: string]: number };
  exit?: number;           // how the command ended: its exit status (trace-run: 125-127 when it did not run)
  signal?: string;         // or the signal that killed it
  ended?: "exited" | "killed" | "detached" | "running" | "not-started";   // how the command ended, as a word
  duration?: number;
  complete?: boolean;      // the trace saw the run to its end and lost nothing; absent in streams of older tools
  incomplete?: string[];   // when complete is false: each reason, one short phrase ("strace killed by SIGKILL")
  lost?: number;           // events the tracer said it lost (0 when none)
  lostKinds?: { [kind: string]: number };   // the same, per kind of event where the tracer tells
  [key: string]: Json | undefined;
}

export type TraceRecord =
  | RunRecord | SyscallRecord | SignalRecord | ExitRecord | InfoRecord | CountRecord | UnparsedRecord | EndRecord;
