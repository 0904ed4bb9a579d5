// Container runs: `docker run` only asks a daemon to start the container, so tracing the client sees
// nothing of it. trace-run attaches to containerd instead and keeps the process tree of this one
// container (the shim started with its id, runc, and what runc starts), leaving the daemons' own
// activity out. `podman run` has no daemon: its process tree is the command's own. In both, calls
// made before the container's first program starts (the runtime setting it up, and the engine around
// it) are marked `runtime`; calls after pivot_root see the container's file system (`containerPath`).

import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { SyscallRecord, TraceRecord } from "../io/records.js";
import { childPid } from "../trace/resolver.js";

/** `docker run …` / `docker container run …`: the index of the "run" word, or -1. */
export function dockerRunIndex(argv: string[]): number {
  if (argv.length < 2 || !/(^|\/)docker$/.test(argv[0])) return -1;
  let i = 1;
  while (i < argv.length && argv[i].startsWith("-")) i += /^--?(H|host|config|context|log-level|l)$/.test(argv[i]) ? 2 : 1;
  if (argv[i] === "container") i++;
  return argv[i] === "run" ? i : -1;
}

/**
 * The pid of the containerd that docker uses (dockerd starts one of its own when none runs as a
 * service), by what no unprivileged user can fake: a root process (uid 0, /proc/PID/status) holding
 * the listening socket docker talks to — the one dockerd is told (--containerd, daemon.json), else
 * the one dockerd started as its child, else the system's. Never by name: anyone can call a process
 * containerd, and one with a lower pid was attached to in its place.
 */
export function containerdPid(): number | undefined {
  const procs = new Map<number, { ppid: number; root: boolean }>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/status`, "utf8");
      const uid = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(st);
      procs.set(Number(d), { ppid: Number(/^PPid:\s+(\d+)/m.exec(st)?.[1]), root: uid !== null && uid[1] === "0" && uid[2] === "0" && uid[3] === "0" });
    } catch { /* gone */ }
  }
  const rootPids = [...procs].filter(([, p]) => p.root).map(([pid]) => pid);
  const dockerd = rootPids.filter((pid) => exeName(pid) === "dockerd");
  const listening = listeningSockets();
  // the root process that holds one of these sockets (of those in `among`)
  const holder = (inodes: Set<number> | undefined, among: number[]): number | undefined =>
    inodes?.size ? among.find((pid) => socketInodes(pid).some((i) => inodes.has(i))) : undefined;
  const told = dockerd.map(containerdAddress).find((a) => a !== undefined) ?? daemonJsonAddress();
  if (told !== undefined) return holder(listening.get(canonicalSocket(told)), rootPids);
  const children = rootPids.filter((pid) => dockerd.includes(procs.get(pid)!.ppid) && exeName(pid) === "containerd");
  const own = children.find((pid) => [...listening].some(([path, inodes]) => path.endsWith("/containerd.sock") && holder(inodes, [pid]) !== undefined));
  return own ?? holder(listening.get(canonicalSocket("/run/containerd/containerd.sock")), rootPids);
}

/** The file name of a process's executable (its /proc link: what the kernel ran, not what it calls itself). */
function exeName(pid: number): string | undefined {
  try { return basename(readlinkSync(`/proc/${pid}/exe`)); } catch { return undefined; }
}

/** dockerd's --containerd socket, when its command line gives one. */
function containerdAddress(pid: number): string | undefined {
  let argv: string[];
  try { argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0"); } catch { return undefined; }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--containerd") return argv[i + 1];
    if (argv[i].startsWith("--containerd=")) return argv[i].slice("--containerd=".length);
  }
  return undefined;
}

function daemonJsonAddress(): string | undefined {
  try {
    const c = JSON.parse(readFileSync("/etc/docker/daemon.json", "utf8"));
    return typeof c.containerd === "string" && c.containerd !== "" ? c.containerd : undefined;
  } catch { return undefined; }
}

/** A socket path with its directory's links resolved (/var/run is /run), so that names compare. */
function canonicalSocket(path: string): string {
  const p = path.replace(/^unix:\/\//, "");
  try { return join(realpathSync(dirname(p)), basename(p)); } catch { return p; }
}

/** Unix sockets listening at a path, by canonical path: their inodes (/proc/net/unix, flag __SO_ACCEPTCON). */
function listeningSockets(): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  let text: string;
  try { text = readFileSync("/proc/net/unix", "utf8"); } catch { return out; }
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !f[7].startsWith("/") || (parseInt(f[3], 16) & 0x10000) === 0) continue;
    const path = canonicalSocket(f.slice(7).join(" "));
    if (!out.has(path)) out.set(path, new Set());
    out.get(path)!.add(Number(f[6]));
  }
  return out;
}

/** The inodes of the sockets a process has open. */
function socketInodes(pid: number): number[] {
  const out: number[] = [];
  let fds: string[];
  try { fds = readdirSync(`/proc/${pid}/fd`); } catch { return out; }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.push(Number(m[1]));
    } catch { /* closed meanwhile */ }
  }
  return out;
}

/** The threads of a process now (none when it is gone). */
export function threadsOf(pid: number): number[] {
  try { return readdirSync(`/proc/${pid}/task`).map(Number); } catch { return []; }
}

/** `podman run …` / `podman container run …`: the index of the "run" word, or -1. */
export function podmanRunIndex(argv: string[]): number {
  if (argv.length < 2 || !/(^|\/)podman$/.test(argv[0])) return -1;
  let i = 1;
  while (i < argv.length && argv[i].startsWith("-")) i += /^--(root|runroot|runtime|storage-driver|cgroup-manager|log-level|url|connection|identity|module|network-cmd-path|tmpdir|events-backend|hooks-dir|conmon)$/.test(argv[i]) ? 2 : 1;
  if (argv[i] === "container") i++;
  return argv[i] === "run" ? i : -1;
}

/** The command with `--cidfile FILE` added after its "run" word. */
export function withCidfile(argv: string[], runAt: number, file: string): string[] {
  return [...argv.slice(0, runAt + 1), "--cidfile", file, ...argv.slice(runAt + 1)];
}

/**
 * `podman run …` as trace-run starts it: with a --cidfile of ours that names the container (not with
 * --user: the user could not write in our directory), and the marks for its records. Any other
 * command: as it is, no marks.
 */
export function podmanRun(command: string[], user: string | undefined, cidFile: string): { command: string[]; marks?: RuntimeMarks } {
  const at = podmanRunIndex(command);
  if (at < 0) return { command };
  return { command: user ? command : withCidfile(command, at, cidFile), marks: new RuntimeMarks() };
}

/**
 * The id the engine writes to its --cidfile, once it is there. Asked for record after record: until the
 * file is written it is looked for at most every 20 ms (`now`: look at once, as at the end of a run).
 */
export function cidReader(file: string): (now?: boolean) => string | undefined {
  let cid: string | undefined;
  let tried = 0;
  return (now = false) => {
    if (cid === undefined && (now || Date.now() - tried >= 20)) {
      tried = Date.now();
      try { cid = readFileSync(file, "utf8").trim() || undefined; } catch { /* not yet */ }
    }
    return cid;
  };
}

/** Whether the engine says the container still runs (`docker run -d` returns while it does). */
export function stillRunning(engine: string, id: string | undefined): boolean {
  if (id === undefined) return false;
  const r = spawnSync(engine, ["inspect", "--format", "{{.State.Running}}", id], { encoding: "utf8" });
  return r.status === 0 && r.stdout.trim() === "true";
}

/**
 * Marks a container's records in a traced process tree: what a process does once it has called
 * pivot_root and then execve (the container's program, and what it starts) is the application's;
 * everything else (the runtime setting the container up, the engine around it) is `runtime`. Paths
 * of processes after pivot_root are the container's own (`containerPath`). Where a trace may start
 * after pivot_root (a container's cgroup), `startsApp` says instead which exec starts the program.
 */
export class RuntimeMarks {
  private pivoted = new Set<number>();
  private app = new Set<number>();

  constructor(private readonly startsApp: (rec: SyscallRecord, pivoted: boolean) => boolean = (_rec, pivoted) => pivoted) {}

  /** `parent` made `child`: the child is in the container, or the application's, when its parent is.
   *  strace's clone record comes in time for this; bpftrace's comes after the child's first calls, so
   *  its fork lines tell it (BpfAssembler.onFork). */
  forked(parent: number, child: number): void {
    if (this.pivoted.has(parent)) this.pivoted.add(child);
    if (this.app.has(parent)) this.app.add(child);
  }

  /** `pid` is the application's already (a running container's processes, there before the trace began). */
  application(pid: number): void { this.app.add(pid); }

  mark(rec: TraceRecord, id: string | undefined): TraceRecord {
    if (rec.type !== "syscall" && rec.type !== "signal" && rec.type !== "exit") return rec;
    const pid = rec.pid ?? -1;
    if (rec.type === "syscall") {
      const child = rec.kind === "proc" && rec.op === "fork" && rec.ok ? childPid(rec) : undefined;
      if (child !== undefined) this.forked(pid, child);
      if (rec.syscall === "pivot_root" && rec.ok) this.pivoted.add(pid);
      if (rec.kind === "exec" && rec.ok && this.startsApp(rec, this.pivoted.has(pid))) this.app.add(pid);
    }
    const out = rec as TraceRecord & { container?: string; runtime?: boolean; containerPath?: boolean };
    if (id !== undefined) out.container = id;
    // the exec that starts the container's program is the first call of the application
    if (!this.app.has(pid)) out.runtime = true;
    if ((this.pivoted.has(pid) || this.app.has(pid)) && rec.type === "syscall" && rec.path !== undefined) out.containerPath = true;
    return out;
  }
}

/** docker run: containerd's whole activity, narrowed to the process tree of one container, marked. */
export class ContainerScope {
  private tree = new Set<number>();
  private readonly marks = new RuntimeMarks();
  id: string | undefined;
  dropped = 0;

  constructor(private readonly idOf: () => string | undefined) {}

  /** The record annotated if it belongs to the container, or null for the daemons' own activity. */
  scope(rec: TraceRecord): TraceRecord | null {
    if (rec.type !== "syscall" && rec.type !== "signal" && rec.type !== "exit") return rec;
    const pid = rec.pid;
    if (pid === null) { this.dropped++; return null; }
    if (rec.type === "syscall") {
      if (!this.tree.has(pid) && rec.kind === "exec" && rec.ok && rec.argv) {
        const k = rec.argv.indexOf("-id");
        const id = k >= 0 ? rec.argv[k + 1] : undefined;
        // the client writes its --cidfile before it asks for the start, so the file names our container
        // by the time its shim runs; until then a shim is another container's (one starting, or the
        // cleanup of one that just ended)
        const want = this.idOf();
        if (id !== undefined && want === id) { this.id = id; this.tree.add(pid); }
      }
      if (!this.tree.has(pid)) { this.dropped++; return null; }
      const child = rec.kind === "proc" && rec.op === "fork" && rec.ok ? childPid(rec) : undefined;
      if (child !== undefined) this.tree.add(child);
    } else if (!this.tree.has(pid)) { this.dropped++; return null; }
    return this.marks.mark(rec, this.id);
  }
}

/**
 * strace may print a child's first calls (even its whole exec) before its parent's clone/vfork
 * returns, so a scope deciding by the process tree would take the child for a stranger. This stage
 * holds the records of a process whose parentage is not known yet, and hands them on, in order, right
 * after the fork that made it (or at the end of the trace, when no fork ever named it). Held records
 * are those of processes just born: the state is bounded by live processes.
 */
export class ParentageHold {
  private known: Set<number>;
  private held = new Map<number, TraceRecord[]>();
  private first: boolean;

  /** `roots`: the processes there before the trace began (containerd's threads); none given, the
   *  first process seen is the root (a command strace starts). */
  constructor(private readonly next: (rec: TraceRecord) => void, roots?: Iterable<number>) {
    this.known = new Set(roots ?? []);
    this.first = roots === undefined;
  }

  push(rec: TraceRecord): void {
    if ((rec.type !== "syscall" && rec.type !== "signal" && rec.type !== "exit") || rec.pid === null || rec.pid === undefined) { this.pass(rec); return; }
    const pid = rec.pid;
    if (this.first) { this.first = false; this.known.add(pid); }
    if (!this.known.has(pid)) {
      const h = this.held.get(pid);
      if (h) h.push(rec); else this.held.set(pid, [rec]);
      return;
    }
    this.pass(rec);
  }

  private pass(rec: TraceRecord): void {
    this.next(rec);
    // a pid that ended may be handed out again: its next owner is known by its own fork
    // (superseded: a thread's execve took this pid, which goes on; the thread's own is gone)
    if (rec.type === "exit" && rec.pid !== null && rec.pid !== undefined) this.known.delete(rec.supersededBy ?? rec.pid);
    const child = rec.type === "syscall" && rec.kind === "proc" && rec.op === "fork" && rec.ok ? childPid(rec) : undefined;
    if (child === undefined) return;
    this.known.add(child);
    const h = this.held.get(child);
    if (h) { this.held.delete(child); for (const r of h) this.pass(r); }
  }

  /** Processes whose records wait for their parent's fork now. */
  get waiting(): number { return this.held.size; }

  /** The end of the trace: what no fork named is handed on as it is, for the scope to judge. */
  end(): void {
    const all = [...this.held.values()];
    this.held.clear();
    for (const h of all) for (const r of h) this.pass(r);
  }
}
