// The strace backend of trace-run: strace on a FIFO of its own (never mixed with the program's output),
// started with the command (or attached to pids, or to containerd for a docker run); its flags, its
// ptrace check, and how strace tells that it attached, died or detached. The session does the rest.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, constants, openSync, readFileSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import { Assembler } from "../strace/assemble.js";
import { ContainerScope, ParentageHold, containerdPid, threadsOf } from "./container.js";
import { UserError, type Tell } from "../errors.js";
import { Session, launcherArgv } from "./launch.js";
import type { TraceRecord } from "../io/records.js";
import { EXIT_RUN_FAILED, alive, type ProcStatus } from "./session.js";
import { NotStarted, type Backend, type CaptureOptions, type Start, type Tracer, type Tracing } from "./backend.js";
import { launches, type Target } from "./target.js";

/** The calls traced by default: files, network, processes, credentials, privileged operations, and
 *  the fd bookkeeping that resolution needs. "?" lets strace skip names this architecture lacks. */
export const DEFAULT_SYSCALLS = [
  "%file", "%network", "%process", "%creds",
  "close", "dup", "dup2", "dup3", "fcntl", "fchdir", "getdents", "getdents64", "pipe", "pipe2", "socketpair",
  "fchmod", "fchown", "ftruncate", "fsetxattr", "fremovexattr", "memfd_create", "prctl", "seccomp",
  "setns", "unshare", "init_module", "finit_module", "delete_module", "bpf", "ptrace", "process_vm_readv",
  "process_vm_writev", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "sethostname",
  "setdomainname", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "iopl", "ioperm", "acct",
  "quotactl", "perf_event_open", "syslog", "fanotify_init", "fanotify_mark", "open_by_handle_at",
];

export interface StraceFlagOptions {
  pid?: number[];
  user?: string;
  allSyscalls?: boolean;
  straceArgs?: string[];
  cost?: boolean;             // also trace reads and writes, for the bytes each file and peer saw
  seccomp?: boolean;
  quiet?: boolean;
}

/** The calls that move bytes: traced with --cost, so that profiles can count bytes per file and peer. */
export const BYTE_SYSCALLS = ["read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2",
  "sendfile", "copy_file_range", "splice"];

export function straceFlags(o: StraceFlagOptions, out: string): string[] {
  const f = ["-f", ...(o.quiet === false ? [] : ["-q"]), "-ttt", "-T", "-yy", "-s", "4096", "-o", out];
  // a seccomp filter can only be installed in a process strace starts, not in one it attaches to
  if (!o.allSyscalls) {
    if (o.seccomp !== false) f.push("--seccomp-bpf");
    f.push("-e", "trace=" + [...DEFAULT_SYSCALLS, ...(o.cost ? BYTE_SYSCALLS : [])].map((s) => (s.startsWith("%") ? s : "?" + s)).join(","));
  }
  if (o.user) f.push("-u", o.user);
  for (const p of o.pid ?? []) f.push("-p", String(p));
  f.push(...(o.straceArgs ?? []));
  return f;
}

export function straceVersion(strace = "strace"): string {
  const r = spawnSync(strace, ["-V"], { encoding: "utf8" });
  if (r.error) {
    throw new UserError(`${strace} is not installed (Debian/Ubuntu: apt-get install strace; Fedora: dnf install strace)`, EXIT_RUN_FAILED);
  }
  const m = /version (\S+)/.exec(r.stdout);
  return m ? m[1] : "unknown";
}

/** A short try of ptrace, so that a refusal is explained before the real run starts. */
function preflight(strace: string, user?: string): void {
  const args = ["-qq", "-o", "/dev/null", "-e", "trace=none"];
  if (user) args.push("-u", user);
  const r = spawnSync(strace, [...args, "/bin/true"], { encoding: "utf8" });
  if (r.status === 0) return;
  const msg = (r.stderr || "").trim().split("\n")[0];
  if (/Operation not permitted|PTRACE/.test(msg)) {
    throw new UserError(`strace may not trace here (${msg}): ptrace is refused — in a container run it with --cap-add=SYS_PTRACE ` +
      `(or --privileged), or lower kernel.yama.ptrace_scope (sysctl kernel.yama.ptrace_scope=0)`, EXIT_RUN_FAILED);
  }
  if (user && /Cannot find user|getpwnam/.test(msg)) throw new UserError(`--user ${user}: no such user`, EXIT_RUN_FAILED);
  if (user && /root/.test(msg)) throw new UserError(`--user needs trace-run to run as root (${msg})`, EXIT_RUN_FAILED);
  throw new UserError(`strace failed: ${msg}`, EXIT_RUN_FAILED);
}

export const strace: Backend = {
  name: "strace",
  usage: "trace-run [OPTIONS] -- COMMAND [ARGS...]",
  targets: ["command", "podman-run", "docker-run", "pids"],
  takes: ["cost", "all-syscalls", "strace-arg", "raw"],
  output: "strace's text",
  killedNote: " (without strace, its seccomp filter would fail their calls)",
  version: (o) => straceVersion(o.tracer ?? "strace"),
  preflight: (target, o) => {
    const containerd = target.kind === "docker-run" ? o.containerdPid ?? containerdPid() ?? failNoContainerd() : undefined;
    preflight(o.tracer ?? "strace", o.user);
    return new StraceTracer(target, o, containerd);
  },
};

class StraceTracer implements Tracer {
  private fifo = "";
  private flags: string[] = [];

  constructor(private readonly target: Target, private readonly o: CaptureOptions, private readonly containerd?: number) {}

  prepare(dir: string) {
    const fifo = this.fifo = join(dir, "strace.out");
    const mk = spawnSync("mkfifo", ["-m", "600", fifo]);
    if (mk.status !== 0) throw new UserError(`cannot make a FIFO in ${dir}`, EXIT_RUN_FAILED);
    const t = this.target;
    const attach = !launches(t);
    const pids = t.kind === "pids" ? t.pids : this.containerd !== undefined ? [this.containerd] : [];
    // for docker run, strace's "attached" message says when the client may start
    const flags = this.flags = straceFlags({ ...this.o, pid: pids, seccomp: !attach, quiet: t.kind !== "docker-run" }, fifo);
    // a container has its own pid namespace: have strace give fork results in ours as well
    if (t.kind === "docker-run" || t.kind === "podman-run") flags.splice(flags.indexOf("-o"), 0, "--decode-pids=pidns");
    return {
      flags: flags.filter((f, i) => f !== fifo && flags[i + 1] !== fifo),
      ...(t.kind === "pids" ? { pids: t.pids } : {}),
      ...(this.containerd !== undefined ? { containerd: this.containerd } : {}),
    };
  }

  async start(s: Start): Promise<Tracing> {
    const bin = this.o.tracer ?? "strace";
    const name = bin.split("/").pop();
    const t = this.target;
    const attach = !launches(t);
    const container = t.kind === "docker-run";
    // Our own write end keeps the reader from seeing end-of-file before strace has opened the FIFO;
    // it is closed when strace exits.
    const readFd = openSync(this.fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const keepOpen = openSync(this.fifo, constants.O_WRONLY);
    const argv = [bin, ...this.flags, ...(attach ? [] : ["--", ...s.command])];
    // the launcher hands strace the command's exact bytes; with --user it also gives it a session of its
    // own (strace leads it; -u switches the command's user) and closes root's other descriptors
    const session = s.env ? new Session([0, s.stdoutFd, 2]) : undefined;
    const launch = attach ? argv : launcherArgv(argv, session?.opts);
    const wrapped = s.meter ? s.meter.wrap(launch) : launch;
    const child = spawn(wrapped[0], wrapped.slice(1), {
      stdio: session?.stdio ?? ["inherit", attach ? "inherit" : s.stdoutFd, container ? "pipe" : "inherit"], env: s.env, detached: session !== undefined,
    });
    session?.start();
    s.meter?.watch(child.pid);
    s.watchman.kill(child.pid);
    const containerdThreads = new Set(container ? threadsOf(this.containerd!) : []);
    if (container) {
      try {
        await attached(s.tell, child, this.containerd!);
      } catch (e) {
        child.kill("SIGKILL");
        closeSync(readFd); closeSync(keepOpen);
        throw new NotStarted("strace could not attach to containerd", e);
      }
      // containerd's threads, there before strace attached (new ones are told by their clone)
      for (const p of threadsOf(this.containerd!)) containerdThreads.add(p);
      // strace detaches a moment after the client ends (stop("client"))
      s.begin();
    }
    const scope = container ? new ContainerScope(s.cidNow) : undefined;
    let spawnError: Error | undefined;
    child.on("error", (e) => { spawnError = e; });
    // The traced tree of a command strace started: its cgroup (less strace), else the processes the trace
    // shows alive. Never what -p attached to, nor a container (docker's own cgroup).
    const tree = () => attach ? [] : s.meter?.measured ? s.meter.procs().filter((p) => p !== child.pid) : asm.livePids().filter(alive);
    let stoppedTracer = false;               // we asked strace to end (docker run, after the client)
    let forwarded: NodeJS.Signals | undefined;   // -p: the signal passed to strace, which detaches on it
    let died = false;
    const exited = new Promise<ProcStatus>((resolve) =>
      child.on("close", (code, signal) => {
        // strace ends after its last tracee: anything of the tree still there means strace died, and its
        // seccomp filter, left behind without a tracer, makes every filtered call fail (ENOSYS): stop it now
        const early = tree().length > 0 || (container && !stoppedTracer) || (t.kind === "pids" && signal !== null && signal !== forwarded);
        if (early && !spawnError) { died = true; s.died(`${name} ${signal ? "killed by " + signal : "exited with " + code}`, tree); }
        closeSync(keepOpen); resolve({ code, signal });
      }));
    const exitSignals = new Set<string>();   // the signals that killed traced processes, as strace told
    let nestedPtrace = false;
    const holdForDumps = (this.o.straceArgs ?? []).some((a) => /^(-k|--stack-traces|-e ?(read|write)=|--(read|write)=)/.test(a));
    const emit = (r: TraceRecord) => {
      if (r.type === "syscall" && r.syscall === "ptrace" && r.errno === "EPERM") nestedPtrace = true;
      if (r.type === "exit" && r.signal) exitSignals.add(r.signal);
      s.emit(r);
    };
    // a container's scope and marks go by the process tree: a child's records wait for its parent's fork
    const hold = scope || s.marks ? new ParentageHold((rec) => {
      const r = scope ? scope.scope(rec) : s.marks!.mark(rec, s.cidNow());
      if (r) emit(r);
    }, container ? [...containerdThreads] : undefined) : undefined;
    const asm = new Assembler((rec: TraceRecord) => { if (hold) hold.push(rec); else emit(rec); }, { cwd: attach ? undefined : s.cwd });
    asm.startFile("strace");
    let signalled = false;
    const forward = (sig: NodeJS.Signals) => { forwarded = sig; child.kill(sig); };

    return {
      reader: asm,
      // an event-driven stream: reading as soon as strace writes keeps it from waiting on a full pipe
      output: new Socket({ fd: readFd, readable: true, writable: false }),
      scope,
      tree,
      began: () => true,
      afterChunk: () => { if (!holdForDumps) asm.flushHeld(); },
      stop: (why) => {
        if (why === "client") {
          setTimeout(() => {
            stoppedTracer = true;
            child.kill("SIGINT");
            // attached, strace holds no filter over containerd: should it not detach, it is killed (seen once,
            // strace waiting with no tracee while another tracer held containerd)
            setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); }, 5000).unref();
          }, 500);
        } else if (t.kind === "pids" || (container && why === "reader")) forward("SIGINT");
      },
      // attached: strace detaches, and the processes go on; launched, the tree was gone already
      signal: (sig) => { if (attach) forward(sig); else signalled = true; },
      finish: async (st) => {
        const status = await exited;
        await session?.end();
        asm.end();
        hold?.end();
        let tracerDied: string | undefined;
        // strace re-raises the signal that killed the command: a signal no traced process died of is strace's own
        if (!st.tracerDied && !attach && !st.killedTree && !st.signalled && !signalled && status.signal && !exitSignals.has(status.signal)) tracerDied = `${name} killed by ${status.signal}`;
        return {
          status, started: true, tracerDied,
          detached: t.kind === "pids" && (forwarded !== undefined || died),
          warnings: nestedPtrace ? ["a traced program was refused ptrace (EPERM): a process under strace cannot trace another (a debugger or strace inside); trace it with --backend bpftrace"] : [],
          failure: spawnError ? new UserError(`cannot run ${bin}: ${spawnError.message}`, EXIT_RUN_FAILED) : undefined,
        };
      },
    };
  }
}

function failNoContainerd(): never {
  throw new UserError("docker run: no containerd is running (start dockerd, or containerd, first)", EXIT_RUN_FAILED);
}

/** Resolves once strace says it has attached (it prints "Process N attached" on stderr), or fails. */
function attached(tell: Tell, child: ChildProcess, pid: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = "";
    let said = "";
    const early: string[] = [];        // said before attaching: the reason, should attaching fail
    const timer = setTimeout(() => { reject(new UserError("strace did not attach to containerd within 10 s", EXIT_RUN_FAILED)); }, 10000);
    let ready = false;
    child.stderr!.on("data", (d: Buffer) => {
      text += d.toString();
      const lines = text.split("\n");
      text = lines.pop()!;
      for (const l of lines) {
        if (/^strace: Process \d+ (attached|detached)/.test(l)) {
          if (!ready) { ready = true; clearTimeout(timer); resolve(); for (const e of early) tell.relay?.(e); }
        } else if (ready) tell.relay?.(l);     // for the user (the command escapes it: it may quote a traced name)
        else { said ||= l.replace(/^strace: /, ""); early.push(l); }
      }
    });
    child.on("close", () => {
      clearTimeout(timer);
      if (ready) return;
      said ||= text.trim().replace(/^strace: /, "");
      // ptrace allows one tracer: another trace-run (or strace, or a debugger) holding containerd
      const tracer = tracerOf(pid);
      const why = tracer ? `it is traced already, by ${tracer} (one tracer at a time: two docker run traces under strace cannot overlap; ` +
        "--backend bpftrace follows containers by their cgroup and runs beside others)" : said || "strace said nothing";
      reject(new UserError(`strace could not attach to containerd (pid ${pid}): ${why}`, EXIT_RUN_FAILED));
    });
  });
}

/** "strace (pid 123)" when a process is being traced, from its TracerPid. */
function tracerOf(pid: number): string | undefined {
  try {
    const t = Number(/^TracerPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    if (!t) return undefined;
    let comm = "?";
    try { comm = readFileSync(`/proc/${t}/comm`, "utf8").trim(); } catch { /* gone */ }
    return `${comm} (pid ${t})`;
  } catch { return undefined; }
}
