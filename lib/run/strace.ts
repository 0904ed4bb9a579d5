// The trace-run job: start the real strace on a command (or attach to a pid), read its output from a
// FIFO of its own (never mixed with the program's output), and stream records as they happen. The
// command's exit status becomes ours; signals we receive are passed on, and nothing is left running.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, constants, createWriteStream, openSync, readFileSync, rmSync, type WriteStream } from "node:fs";
import { hostname, release, userInfo } from "node:os";
import { Socket } from "node:net";
import { join } from "node:path";
import { Assembler } from "../strace/assemble.js";
import { ContainerScope, ParentageHold, cidReader, containerdPid, threadsOf, dockerRunIndex, podmanRun, stillRunning, withCidfile } from "./container.js";
import { CostMeter, type Cost } from "./cost.js";
import { RecordWriter } from "../io/output.js";
import { Feed } from "../trace/reader.js";
import { UserError, type Tell } from "../errors.js";
import { Session, account, launcherArgv, userEnvironment } from "./launch.js";
import { RECORD_VERSION, type Json, type RunRecord, type TraceRecord } from "../io/records.js";
import { EXIT_RUN_FAILED, Watchman, alive, endFields, endTree, exitCodeOf, runDir, writeFailure, type Ending, type ProcStatus } from "./session.js";
import { resolveCommand } from "./target.js";

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

export interface RunOptions {
  containerdPid?: number;     // docker run: attach here (found when not given)
  command: string[];          // empty with pid
  pid?: number[];
  user?: string;
  preserveEnv?: string[];     // with user: variables passed on besides the reset environment
  stdout?: string;            // file for the command's stdout; default: our stderr
  raw?: string;               // also keep strace's text here
  allSyscalls?: boolean;
  straceArgs?: string[];
  strace?: string;            // the strace binary
  cost?: boolean;             // also trace reads and writes, for the bytes each file and peer saw
}

/** The calls that move bytes: traced with --cost, so that profiles can count bytes per file and peer. */
export const BYTE_SYSCALLS = ["read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2",
  "sendfile", "copy_file_range", "splice"];

export function straceFlags(o: RunOptions & { seccomp?: boolean; quiet?: boolean }, out: string): string[] {
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

export async function runTraced(tell: Tell, o: RunOptions, writer = new RecordWriter()): Promise<number> {
  const strace = o.strace ?? "strace";
  const version = straceVersion(strace);
  const runAt = dockerRunIndex(o.command);
  const container = runAt > 0 && !(o.pid?.length);
  if (container) {
    o = { ...o, pid: [o.containerdPid ?? containerdPid() ?? failNoContainerd()] };
    if (o.user) throw new UserError("--user does not apply to docker run (use docker run --user)", 2);
  }
  const attach = (o.pid?.length ?? 0) > 0;
  if (attach && !container && o.command.length) throw new UserError("-p and a command do not go together", 2);
  // --user: the command's environment is the user's, reset as sudo does; its PATH finds the command
  const env = o.user && !attach ? userEnvironment(account(o.user), o.preserveEnv) : undefined;
  if (!attach || container) {
    if (o.command.length === 0) throw new UserError("no command given: trace-run [OPTIONS] -- COMMAND [ARGS...]", 2);
    resolveCommand(o.command[0], env?.PATH);
  }
  preflight(strace, o.user);

  const dir = runDir();
  const fifo = join(dir, "strace.out");
  const mk = spawnSync("mkfifo", ["-m", "600", fifo]);
  if (mk.status !== 0) { rmSync(dir, { recursive: true, force: true }); throw new UserError(`cannot make a FIFO in ${dir}`, EXIT_RUN_FAILED); }

  const cidFile = join(dir, "cid");
  // podman run: no daemon, the container is the command's own process tree
  const { command, marks } = attach ? { command: o.command, marks: undefined } : podmanRun(o.command, o.user, cidFile);
  // for docker run, strace's "attached" message says when the client may start
  const flags = straceFlags({ ...o, seccomp: !attach, quiet: !container }, fifo);
  // a container has its own pid namespace: have strace give fork results in ours as well
  if (container || marks) flags.splice(flags.indexOf("-o"), 0, "--decode-pids=pidns");
  const start = Date.now() / 1000;
  const cwd = process.cwd();
  const me = userInfo();
  // an attached process has a working directory of its own, which -yy annotations tell
  const startCwd = attach ? undefined : cwd;
  const run: RunRecord = {
    type: "run", v: RECORD_VERSION, tracer: "strace", tracerVersion: version, argv: o.command, cwd: startCwd,
    uid: me.uid, user: o.user ?? me.username, host: hostname(), kernel: release(), start, flags: flags.filter((f, i) => f !== fifo && flags[i + 1] !== fifo),
  };
  if (startCwd === undefined) delete run.cwd;
  if (attach && !container) run.pids = o.pid!;
  if (container) run.containerd = o.pid![0];
  // --stdout is opened before the header: a stream is never begun for a run that cannot start
  let stdoutFd: number | "inherit" = 2;
  if (o.stdout) {
    try { stdoutFd = openSync(o.stdout, "w"); } catch (e) { rmSync(dir, { recursive: true, force: true }); throw new UserError(`--stdout ${o.stdout}: ${writeFailure(e as NodeJS.ErrnoException)}`, EXIT_RUN_FAILED); }
  }
  let rawFd: number | undefined;
  if (o.raw) {
    try { rawFd = openSync(o.raw, "w"); } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      if (typeof stdoutFd === "number" && stdoutFd !== 2) closeSync(stdoutFd);
      throw new UserError(`--raw ${o.raw}: ${writeFailure(e as NodeJS.ErrnoException)}`, EXIT_RUN_FAILED);
    }
  }
  writer.write(run);
  await writer.flush();

  // Our own write end keeps the reader from seeing end-of-file before strace has opened the FIFO;
  // it is closed when strace exits.
  const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const keepOpen = openSync(fifo, constants.O_WRONLY);
  // the CPU and memory of a command we start are measured in a cgroup of its own (not for attached processes)
  const meter = attach ? undefined : new CostMeter();
  const argv = [strace, ...flags, ...(attach ? [] : ["--", ...command])];
  // the launcher hands strace the command's exact bytes; with --user it also gives it a session of its
  // own (strace leads it; -u switches the command's user) and closes root's other descriptors
  const session = env ? new Session([0, typeof stdoutFd === "number" ? stdoutFd : 1, 2]) : undefined;
  const launch = attach ? argv : launcherArgv(argv, session?.opts);
  const wrapped = meter ? meter.wrap(launch) : launch;
  const child = spawn(wrapped[0], wrapped.slice(1), {
    stdio: session?.stdio ?? ["inherit", attach ? "inherit" : stdoutFd, container ? "pipe" : "inherit"], env, detached: session !== undefined,
  });
  session?.start();
  meter?.watch(child.pid);
  // should trace-run die, the watchman ends the tree, then strace, and removes what the run made
  const watchman = new Watchman(dir, meter?.cgroups ?? []);
  watchman.kill(child.pid);
  let processes = attach ? 0 : 1;
  // docker run: once strace has attached to containerd, start the client with a --cidfile of ours;
  // its status is ours, and strace detaches a moment after it ends
  let client: ChildProcess | undefined;
  let clientDone: Promise<ProcStatus> | undefined;
  let stoppedTracer = false;               // we asked strace to end (docker run, after the client)
  let forwarded: NodeJS.Signals | undefined;   // -p: the signal passed to strace, which detaches on it
  let killedTree = false;                  // trace-run ended the command itself
  const containerdThreads = new Set(container ? threadsOf(o.pid![0]) : []);
  if (container) {
    try {
      await attached(tell, child, o.pid![0]);
    } catch (e) {
      child.kill("SIGKILL");
      meter?.remove();
      closeSync(readFd); closeSync(keepOpen);
      rmSync(dir, { recursive: true, force: true });
      watchman.dismiss();
      // the header is out: the stream says that nothing ran, and why
      const end: TraceRecord = { type: "end", duration: Math.round((Date.now() / 1000 - start) * 1e6) / 1e6,
        ...endFields({ status: { code: EXIT_RUN_FAILED, signal: null }, started: false, incomplete: ["strace could not attach to containerd"] }, exitCodeOf) };
      writer.write(end);
      await writer.end();
      throw e;
    }
    // containerd's threads, there before strace attached (new ones are told by their clone)
    for (const t of threadsOf(o.pid![0])) containerdThreads.add(t);
    const argv = launcherArgv(withCidfile(o.command, runAt, cidFile));
    client = spawn(argv[0], argv.slice(1), { stdio: ["inherit", stdoutFd, "inherit"] });
    watchman.term(client.pid);
    clientDone = new Promise((resolve) => client!.on("close", (code, signal) => resolve({ code, signal })));
    clientDone.then(() => setTimeout(() => {
      stoppedTracer = true;
      child.kill("SIGINT");
      // attached, strace holds no filter over containerd: should it not detach, it is killed (seen once,
      // strace waiting with no tracee while another tracer held containerd)
      setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); }, 5000).unref();
    }, 500));
  }
  const cidNow = cidReader(cidFile);
  const scope = container ? new ContainerScope(cidNow) : undefined;
  let spawnError: Error | undefined;
  child.on("error", (e) => { spawnError = e; });
  // The traced tree of a command strace started: its cgroup (less strace), else the processes the trace
  // shows alive. Never what -p attached to, nor a container (docker's own cgroup).
  const tree = () => attach ? [] : meter?.measured ? meter.procs().filter((p) => p !== child.pid) : asm.livePids().filter(alive);
  let tracerDied: string | undefined;      // why the trace was cut short by the tracer's end
  const exited = new Promise<ProcStatus>((resolve) =>
    child.on("close", (code, signal) => {
      // strace ends after its last tracee: anything of the tree still there means strace died, and its
      // seccomp filter, left behind without a tracer, makes every filtered call fail (ENOSYS): stop it now
      const orphans = tree();
      const early = orphans.length > 0 || (container && !stoppedTracer) || (attach && !container && signal !== null && signal !== forwarded);
      if (early && !spawnError) {
        tracerDied = `${strace.split("/").pop()} ${signal ? "killed by " + signal : "exited with " + code}`;
        if (orphans.length) { killedTree = true; endTree(tree, "SIGKILL", 0); }
        client?.kill("SIGTERM");
      }
      closeSync(keepOpen); resolve({ code, signal });
    }));
  const exitSignals = new Set<string>();   // the signals that killed traced processes, as strace told

  let rawError: Error | undefined;
  const raw: WriteStream | undefined = rawFd !== undefined ? createWriteStream("", { fd: rawFd }) : undefined;
  // a --raw file that cannot be written ends the run as trace-run's own failure, the program stopped
  raw?.on("error", (e) => {
    rawError ??= e;
    if (client) client.kill("SIGTERM");
    else if (attach) { forwarded = "SIGINT"; child.kill("SIGINT"); }
    else { killedTree = true; endTree(tree, "SIGTERM", 500); }
  });
  let nestedPtrace = false;
  const holdForDumps = (o.straceArgs ?? []).some((a) => /^(-k|--stack-traces|-e ?(read|write)=|--(read|write)=)/.test(a));
  const emit = (r: TraceRecord) => {
    if (r.type === "syscall" && r.kind === "proc" && r.op === "fork" && r.ok && !r.runtime) processes++;
    if (r.type === "syscall" && r.syscall === "ptrace" && r.errno === "EPERM") nestedPtrace = true;
    if (r.type === "exit" && r.signal) exitSignals.add(r.signal);
    writer.write(r);
  };
  // a container's scope and marks go by the process tree: a child's records wait for its parent's fork
  const hold = scope || marks ? new ParentageHold((rec) => {
    const r = scope ? scope.scope(rec) : marks!.mark(rec, cidNow());
    if (r) emit(r);
  }, container ? [...containerdThreads] : undefined) : undefined;
  const asm = new Assembler((rec: TraceRecord) => { if (hold) hold.push(rec); else emit(rec); }, { cwd: startCwd });
  asm.startFile("strace");

  // signals: pass them on to the traced processes; strace ends when they do
  let killTimer: NodeJS.Timeout | undefined;
  let stopEscalation: (() => void) | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    // docker run: the client passes it to the container; attached: strace detaches and the process
    // goes on; launched: the command's whole tree gets the signal (as a terminal's ^C reaches its group)
    if (client) { client.kill(sig); return; }
    if (attach) { forwarded = sig; child.kill(sig); return; }
    for (const pid of tree()) tryKill(pid, sig);
    killTimer ??= setTimeout(() => { stopEscalation = endTree(tree, "SIGTERM", 500); }, 3000);
  };
  const sigs: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of sigs) process.on(s, onSignal);

  const feed = new Feed(asm);
  try {
    // an event-driven stream: reading as soon as strace writes keeps it from waiting on a full pipe
    let stopping = false;
    for await (const chunk of new Socket({ fd: readFd, readable: true, writable: false })) {
      if (stopping) continue;       // drain what strace still writes, so it never meets a broken pipe
      if (raw && !rawError) raw.write(chunk);
      feed.push(chunk as Buffer);
      if (!holdForDumps) asm.flushHeld();
      await writer.flush();
      if (writer.closed) {
        // our reader went away (| head): stop the program we started; never what we attached to. The
        // tracees end first and strace after them, by itself: strace killed first would leave them
        // running under its seccomp filter
        if (client) client.kill("SIGTERM");
        if (attach) { forwarded = "SIGINT"; child.kill("SIGINT"); }
        else { killedTree = true; stopEscalation = endTree(tree, "SIGTERM", 500); }
        stopping = true;
      }
    }
    feed.close();
  } finally {
    const status = clientDone ? await clientDone : await exited;
    if (clientDone) await exited;
    await session?.end();
    for (const s of sigs) process.off(s, onSignal);
    if (killTimer) clearTimeout(killTimer);
    stopEscalation?.();
    asm.end();
    hold?.end();
    rmSync(dir, { recursive: true, force: true });
    if (typeof stdoutFd === "number" && stdoutFd !== 2) closeSync(stdoutFd);
    await new Promise<void>((r) => (raw && !rawError ? raw.end(r) : r()));
    // strace re-raises the signal that killed the command: a signal no traced process died of is strace's own
    if (!tracerDied && !attach && !container && !killedTree && !killTimer && status.signal && !exitSignals.has(status.signal)) tracerDied = `${strace.split("/").pop()} killed by ${status.signal}`;
    const incomplete: string[] = [];
    if (tracerDied) incomplete.push(tracerDied);
    if (rawError) incomplete.push(`--raw ${o.raw}: ${writeFailure(rawError as NodeJS.ErrnoException)}`);
    if (writer.closed) incomplete.push("reader went away");
    // what the command did is its own status, unless trace-run ended it: then it was killed
    const cmdStatus = tracerDied && killedTree ? { code: null, signal: "SIGKILL" as NodeJS.Signals } : status;
    const detached = attach && !container && (forwarded !== undefined || tracerDied !== undefined);
    const code = exitCodeOf(cmdStatus);
    const wall = Math.round((Date.now() / 1000 - start) * 1e6) / 1e6;
    const ending: Ending = { status: cmdStatus, started: true, detached, killedByUs: killedTree, incomplete };
    const end: TraceRecord = { type: "end", exit: code, duration: wall, ...asm.counts };
    if (meter) end.cost = { ...meter.finish(), processes, wall } as Cost as unknown as Json;
    else if (container) {
      // the container's processes live in docker's cgroup, and are gone with it (--rm) before we could read it
      end.cost = { processes, wall, source: "docker run: the container's CPU and memory are in docker's cgroup and not measured here" };
    }
    const running = scope ? stillRunning(o.command[0], scope.id) : false;
    Object.assign(end, endFields({ ...ending, running }, exitCodeOf));
    if (detached) delete end.exit;
    if (scope) { end.container = scope.id ?? null; end.dropped = scope.dropped; }
    if (marks) end.container = cidNow(true) ?? null;
    // the client gave up before any container started (no such image, a bad option)
    if (scope && scope.id === undefined) { end.ended = "not-started"; end.complete = false; end.incomplete = [...(end.incomplete as string[] ?? []), "no container was seen"]; }
    writer.write(end);
    await writer.end();
    watchman.dismiss();
    if (spawnError) throw new UserError(`cannot run ${strace}: ${spawnError.message}`, EXIT_RUN_FAILED);
    if (rawError) throw new UserError(`--raw ${o.raw}: ${writeFailure(rawError as NodeJS.ErrnoException)} (the trace was stopped)`, EXIT_RUN_FAILED);
    // (the command layer has said so: one line for a failed standard output)
    if (writer.error) return EXIT_RUN_FAILED;
    if (tracerDied) {
      throw new UserError(`${tracerDied}: the trace is cut short` + (killedTree ? "; the traced processes were killed (without strace, its seccomp filter would fail their calls)"
        : client ? "; the docker client was stopped" : attach ? "; the processes were let go and run on" : ""), EXIT_RUN_FAILED);
    }
    if (writer.closed) return 0;
    if (nestedPtrace) tell.warn("a traced program was refused ptrace (EPERM): a process under strace cannot trace another (a debugger or strace inside); trace it with --backend bpftrace");
    if (detached) return 0;
    if (asm.counts.unparsed > 0) tell.warn(`${asm.counts.unparsed} lines of strace output not understood`);
    if (scope && scope.id === undefined && code === 0) tell.warn("the container's start was not seen: nothing of it was traced");
    if (running) tell.warn(DETACHED);
    return code;
  }
}

/** Said when the container's program outlived the client (docker run -d, or a client that was stopped). */
export const DETACHED = "the container was still running when its client returned (docker run -d?): it is traced only until then; " +
  "to follow a running container, use --backend bpftrace --container ID";

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

function tryKill(pid: number, sig: NodeJS.Signals | number): void {
  try { process.kill(pid, sig); } catch { /* already gone */ }
}
