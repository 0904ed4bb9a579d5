// trace-run --backend bpftrace: the kernel reports the calls, nothing stops the program. Three targets:
//  - a command: started stopped (a shell that stops itself, then execs it), so that its pid is known and
//    the probes are in place before its first instruction; traced with every task it starts;
//  - docker run: every cgroup made from then on is watched, and the one whose path holds the new
//    container's id (from --cidfile) is kept;
//  - --container ID|NAME: a running container, by its cgroup v2 directory, until ^C or until it stops.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync, createWriteStream, type WriteStream } from "node:fs";
import { arch as osArch, hostname, release, userInfo } from "node:os";
import { join } from "node:path";
import { bpfProgram, BPF_STRLEN } from "../bpf/program.js";
import { BpfAssembler } from "../bpf/bpftrace.js";
import { CostMeter, cgroup2Root, type Cost } from "./cost.js";
import { RecordWriter } from "../io/output.js";
import { Feed } from "../trace/reader.js";
import { UserError, type Tell } from "../errors.js";
import { DETACHED } from "./capture.js";
import { resolveCommand } from "./target.js";
import { RuntimeMarks, cidReader, dockerRunIndex, podmanRun, stillRunning, withCidfile } from "./container.js";
import { RECORD_VERSION, type Json, type RunRecord, type SyscallRecord, type TraceRecord } from "../io/records.js";
import { Session, account, launcherArgv, userEnvironment, type Account } from "./launch.js";
import { EXIT_RUN_FAILED, Watchman, alive, endFields, endTree, exitCodeOf, runDir, writeFailure, type Ending, type ProcStatus } from "./session.js";

export interface BpfRunOptions {
  command: string[];
  container?: string;         // a running container's id or name
  user?: string;
  preserveEnv?: string[];     // with user: variables passed on besides the reset environment
  stdout?: string;
  raw?: string;
  bpftrace?: string;
  cost?: boolean;
}

const TRACEFS = "/sys/kernel/tracing";


export function bpftraceVersion(bpftrace = "bpftrace"): string {
  const r = spawnSync(bpftrace, ["--version"], { encoding: "utf8" });
  if (r.error) throw new UserError(`${bpftrace} is not installed (Debian/Ubuntu: apt-get install bpftrace; Fedora: dnf install bpftrace)`, EXIT_RUN_FAILED);
  const m = /v?(\d+\.\d+\S*)/.exec(r.stdout);
  return m ? m[1] : "unknown";
}

/** tracefs, where the tracepoints are: mounted here when it is not yet. */
export function ensureTracefs(): void {
  if (existsSync(join(TRACEFS, "events", "raw_syscalls"))) return;
  const r = spawnSync("mount", ["-t", "tracefs", "nodev", TRACEFS], { encoding: "utf8" });
  if (r.status !== 0 || !existsSync(join(TRACEFS, "events", "raw_syscalls"))) {
    const why = (r.stderr || "").trim().split("\n")[0] || "no raw_syscalls tracepoints";     // mount's first line; the rest points at dmesg
    throw new UserError(`tracefs is not mounted at ${TRACEFS} and mounting it failed (${why}): ` +
      `run 'mount -t tracefs nodev ${TRACEFS}' as root, on a kernel with syscall tracepoints (CONFIG_FTRACE_SYSCALLS)`, EXIT_RUN_FAILED);
  }
}

/** The program for this machine's architecture. */
export function programForHost(): string {
  const a = osArch();
  if (a !== "x64" && a !== "arm64") throw new UserError(`the bpftrace backend knows the system call numbers of x86-64 and arm64, not ${a}`, EXIT_RUN_FAILED);
  return bpfProgram(a === "arm64" ? "aarch64" : "x86_64");
}

/** A running container's main pid and full id, from docker inspect. */
function inspect(name: string): { id: string; pid: number } {
  const r = spawnSync("docker", ["inspect", "--type", "container", "-f", "{{.Id}} {{.State.Pid}}", name], { encoding: "utf8" });
  if (r.error) throw new UserError(`--container ${name}: docker is not installed`, EXIT_RUN_FAILED);
  if (r.status !== 0) throw new UserError(`--container ${name}: no such container (${(r.stderr || "").trim().split("\n")[0]})`, EXIT_RUN_FAILED);
  const [id, pid] = r.stdout.trim().split(" ");
  if (!(Number(pid) > 0)) throw new UserError(`--container ${name}: it is not running`, EXIT_RUN_FAILED);
  return { id, pid: Number(pid) };
}

/** The cgroup v2 directory of a process, and its id (the directory's inode, which bpftrace's `cgroup` is). */
export function cgroupOf(pid: number): { path: string; dir: string; id: number } {
  const root = cgroup2Root();
  if (!root) throw new UserError("no cgroup v2 hierarchy is mounted: the bpftrace backend finds containers by their cgroup v2 id", EXIT_RUN_FAILED);
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").find((l) => l.startsWith("0::"));
  if (!line) throw new UserError(`process ${pid} has no cgroup v2 entry in /proc/${pid}/cgroup`, EXIT_RUN_FAILED);
  const path = line.slice(3);
  const dir = join(root, path);
  return { path, dir, id: statSync(dir).ino };
}

/** Waits until the process is stopped (state T), or fails. */
async function stopped(pid: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (child.exitCode !== null || child.signalCode !== null) throw new UserError("the command ended before it could be traced", EXIT_RUN_FAILED);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "T") return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new UserError("the command did not stop for the tracer within 5 s", EXIT_RUN_FAILED);
}

function userArgs(a: Account): string[] {
  return ["setpriv", `--reuid=${a.uid}`, `--regid=${a.gid}`, "--init-groups", "--"];
}

export async function runBpf(tell: Tell, o: BpfRunOptions, writer = new RecordWriter()): Promise<number> {
  const bpftrace = o.bpftrace ?? "bpftrace";
  if (process.getuid?.() !== 0) throw new UserError("the bpftrace backend needs root (bpftrace loads programs into the kernel)", EXIT_RUN_FAILED);
  const version = bpftraceVersion(bpftrace);
  ensureTracefs();
  const runAt = dockerRunIndex(o.command);
  const running = o.container !== undefined;
  const newContainer = !running && runAt > 0;
  if (running && o.command.length) throw new UserError("--container and a command do not go together", 2);
  if (!running && o.command.length === 0) throw new UserError("no command given: trace-run --backend bpftrace [OPTIONS] -- COMMAND [ARGS...]", 2);
  if ((running || newContainer) && o.user) throw new UserError("--user does not apply to containers (use docker run --user)", 2);
  // --user: the command's environment is the user's, reset as sudo does; its PATH finds the command
  const acct = o.user ? account(o.user) : undefined;
  const env = acct ? userEnvironment(acct, o.preserveEnv) : undefined;
  const path = running ? undefined : resolveCommand(o.command[0], env?.PATH);
  const target = running ? inspect(o.container!) : undefined;
  const cg = target ? cgroupOf(target.pid) : undefined;
  if (newContainer && !cgroup2Root()) throw new UserError("no cgroup v2 hierarchy is mounted: the bpftrace backend finds containers by their cgroup v2 id", EXIT_RUN_FAILED);

  const dir = runDir();
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const programFile = join(dir, "leastpriv.bt");
  writeFileSync(programFile, process.env.LEASTPRIV_BPF_PROGRAM ? readFileSync(process.env.LEASTPRIV_BPF_PROGRAM, "utf8") : programForHost());
  const cidFile = join(dir, "cid");
  // podman run: the command's own process tree, as any command, marked
  const { command, marks } = running || newContainer ? { command: o.command, marks: undefined } : podmanRun(o.command, o.user, cidFile);

  const start = Date.now() / 1000;
  const cwd = process.cwd();
  const me = userInfo();
  const run: RunRecord = {
    type: "run", v: RECORD_VERSION, tracer: "bpftrace", tracerVersion: version, argv: o.command, uid: me.uid,
    user: o.user ?? me.username, host: hostname(), kernel: release(), start,
  };
  if (!running && !newContainer) run.cwd = cwd;
  if (target) { run.container = target.id; run.cgroup = cg!.path; }
  // the files are opened before the header: a stream is never begun for a run that cannot start
  let stdoutFd: number | undefined;
  if (o.stdout) {
    try { stdoutFd = openSync(o.stdout, "w"); } catch (e) { cleanup(); throw new UserError(`--stdout ${o.stdout}: ${writeFailure(e as NodeJS.ErrnoException)}`, EXIT_RUN_FAILED); }
  }
  let rawFd: number | undefined;
  if (o.raw) {
    try { rawFd = openSync(o.raw, "w"); } catch (e) {
      cleanup();
      if (stdoutFd !== undefined) closeSync(stdoutFd);
      throw new UserError(`--raw ${o.raw}: ${writeFailure(e as NodeJS.ErrnoException)}`, EXIT_RUN_FAILED);
    }
  }
  writer.write(run);
  await writer.flush();
  // a command: started stopped, and continued (to exec the command in its place) once the probes are in
  let child: ChildProcess | undefined;
  let meter: CostMeter | undefined;
  let session: Session | undefined;
  let watchman: Watchman | undefined;
  if (!running && !newContainer) {
    meter = new CostMeter();
    // should trace-run die (even while the command waits, stopped, for the probes), the watchman
    // kills what is in the run's cgroup, and bpftrace, and removes what the run made
    watchman = new Watchman(dir, meter.cgroups);
    // the launcher (perl, not a shell: bash would read startup files when its stdin is a socket, and
    // shells add to the environment) stops itself, then execs the program found on PATH with the
    // command's exact bytes; with --user, a first one gives it a session of its own and closes root's
    // other descriptors before setpriv switches the user
    const stopper = launcherArgv(command, ["stop"], path);
    session = acct ? new Session([0, stdoutFd ?? 2, 2]) : undefined;
    const argv = meter.wrap(acct ? launcherArgv([...userArgs(acct), ...stopper], session!.opts) : stopper);
    child = spawn(argv[0], argv.slice(1), { stdio: session?.stdio ?? ["inherit", stdoutFd ?? 2, "inherit"], env, detached: session !== undefined });
    session?.start();
  }
  const childDone = child ? new Promise<ProcStatus>((resolve) =>
    child!.on("close", (code, signal) => resolve({ code, signal }))) : undefined;
  let spawnError: Error | undefined;
  child?.on("error", (e) => { spawnError = e; });
  watchman ??= new Watchman(dir, []);
  try {
    if (child) await stopped(child.pid!, child);
  } catch (e) {
    meter?.remove(); cleanup(); watchman.dismiss();
    await session?.end();
    throw e;
  }

  const mode = running ? 2 : newContainer ? 3 : 1;
  const id = running ? cg!.id : child ? child.pid! : 0;
  const tracer = spawn(bpftrace, ["-B", "line", "-f", "json", programFile, String(mode), String(id), mode === 1 ? cwd : ""], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, BPFTRACE_STRLEN: String(BPF_STRLEN), BPFTRACE_MAP_KEYS_MAX: "65536", BPFTRACE_PERF_RB_PAGES: process.env.BPFTRACE_PERF_RB_PAGES || "4096" },
  });
  watchman.kill(tracer.pid);
  let tracerError: Error | undefined;
  tracer.on("error", (e) => { tracerError = e; });
  // The traced tree of a command: its cgroup (bpftrace runs outside it), and what the trace shows alive
  const tree = () => child ? [...new Set([...(meter?.procs() ?? []), ...asm.livePids().filter(alive), ...(childStatus ? [] : [child.pid!])])] : [];
  let tracerDied: string | undefined;
  let killedTree = false;
  const tracerDone = new Promise<ProcStatus>((resolve) => tracer.on("close", (code, signal) => {
    // bpftrace ended before we asked it to: the rest of the run would go unseen, so it is stopped
    if (!stopping && began) {
      tracerDied = `bpftrace ${signal ? "killed by " + signal : "exited with " + code}`;
      if (tree().length) { killedTree = true; endTree(tree, "SIGKILL", 0); }
      client?.kill("SIGTERM");
    }
    resolve({ code, signal });
  }));
  let lost = 0;
  let stderrTail = "";
  let errText = "";
  tracer.stderr!.on("data", (d: Buffer) => {
    errText += d.toString();
    const lines = errText.split("\n");
    errText = lines.pop()!;
    for (const l of lines) {
      // bpftrace 0.17 says this on every start, harmlessly; and how many probes it attached
      if (/couldn't set RLIMIT_MEMLOCK|^Attaching \d+ probes|^WARNING: Addrspace is not set|^\s*$/.test(l)) continue;
      const m = /Lost (\d+) events/.exec(l);
      if (m) { lost += Number(m[1]); continue; }
      stderrTail = (stderrTail + l + "\n").slice(-2000);
      tell.warn(`bpftrace: ${l}`);
    }
  });

  const cidNow = cidReader(cidFile);
  const scope = new BpfScope(mode, target?.id, cidNow, cg?.dir);
  let processes = child ? 1 : 0;
  const asm = new BpfAssembler((rec, cgroup) => {
    const r = mode !== 1 ? scope.scope(rec, cgroup, asm.cgroups) : marks ? marks.mark(rec, cidNow()) : rec;
    if (!r) return;
    if (r.type === "syscall" && r.kind === "proc" && r.op === "fork" && r.ok && !r.runtime) processes++;
    writer.write(r);
  }, { cwd: mode === 1 ? cwd : undefined });
  asm.onFork = (parent, child) => { scope.forked(parent, child); marks?.forked(parent, child); };
  asm.startFile("bpftrace");
  let rawError: Error | undefined;
  const raw: WriteStream | undefined = rawFd !== undefined ? createWriteStream("", { fd: rawFd }) : undefined;
  // a --raw file that cannot be written ends the run as trace-run's own failure, the program stopped
  raw?.on("error", (e) => {
    rawError ??= e;
    if (client) client.kill("SIGTERM");
    if (child) { killedTree = true; stopEscalation = endTree(tree, "SIGTERM", 500); }
    stopTracer(child ? 1000 : 0);
  });
  let stopEscalation: (() => void) | undefined;
  let killTimer: NodeJS.Timeout | undefined;

  // the end: the command and every task it started are gone; a new container's client is done; a running one stopped
  let stopTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  const stopTracer = (delay: number) => {
    if (stopping) return;
    stopping = true;
    // bpftrace ends on SIGINT; should it not, it is killed a moment later (the probes go with it)
    stopTimer = setTimeout(() => {
      tracer.kill("SIGINT");
      stopTimer = setTimeout(() => tracer.kill("SIGKILL"), 3000);
    }, delay);
  };
  let client: ChildProcess | undefined;
  let clientDone: Promise<ProcStatus> | undefined;
  let childStatus: ProcStatus | undefined;
  childDone?.then((s) => { childStatus = s; });
  let lastData = Date.now();
  const poll = setInterval(() => {
    if (process.env.LEASTPRIV_DEBUG) tell.warn(`debug: ready=${asm.ready} child=${JSON.stringify(childStatus)} live=${asm.livePids().join(",")} stopping=${stopping}`);
    if (mode === 1 && childStatus && asm.ready) {
      // the end is when every task of the tree has been read exiting: bpftrace may still hold a backlog
      // of earlier events, and stopping it sooner would drop them. Should an exit never come (lost),
      // /proc decides once bpftrace has been quiet for 2 s.
      const live = asm.livePids();
      if (live.length === 0) stopTracer(300);
      else if (Date.now() - lastData > 2000 && live.every((p) => !existsSync(`/proc/${p}`))) stopTracer(0);
    }
    if (mode === 2 && !existsSync(cg!.dir)) stopTracer(200);
  }, 100);

  // signals: the whole tree gets them (as a terminal's ^C reaches its process group); whatever is still
  // there 3 s later is ended (TERM, then KILL), as under strace
  const onSignal = (sig: NodeJS.Signals) => {
    if (client) { client.kill(sig); return; }
    if (child && began && tree().length) {
      for (const p of tree()) { try { process.kill(p, sig); } catch { /* gone */ } }
      killTimer ??= setTimeout(() => { stopEscalation = endTree(tree, "SIGTERM", 500); }, 3000);
      return;
    }
    if (!began) interrupted ??= sig;
    stopTracer(0);
  };
  let interrupted: NodeJS.Signals | undefined;     // a signal that came before the trace began
  const sigs: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of sigs) process.on(s, onSignal);

  const readyTimer = setTimeout(() => {
    if (!asm.ready) { tell.warn("bpftrace did not start within 120 s"); tracer.kill("SIGKILL"); }
  }, 120000);
  let began = false;
  const begin = () => {
    if (began) return;
    began = true;
    clearTimeout(readyTimer);
    if (child) { try { process.kill(child.pid!, "SIGCONT"); } catch { /* gone */ } }
    if (newContainer) {
      const argv = launcherArgv(withCidfile(o.command, runAt, cidFile));
      client = spawn(argv[0], argv.slice(1), { stdio: ["inherit", stdoutFd ?? 2, "inherit"] });
      watchman!.term(client.pid);
      clientDone = new Promise((resolve) => client!.on("close", (code, signal) => resolve({ code, signal })));
      clientDone.then(() => stopTracer(500));
    }
  };

  const feed = new Feed(asm);
  let flushTimer: NodeJS.Timeout | undefined;
  try {
    for await (const chunk of tracer.stdout!) {
      lastData = Date.now();
      if (raw && !rawError) raw.write(chunk);
      feed.push(chunk as Buffer);
      if (asm.ready) begin();
      // a quiet moment: release what is held, so that a live reader sees it
      if (flushTimer) clearTimeout(flushTimer);
      flushTimer = setTimeout(() => { asm.release(true); writer.flush(); }, 300);
      await writer.flush();
      if (writer.closed && !stopping) {
        // our reader went away (| head): stop what we started; never a running container
        if (client) client.kill("SIGTERM");
        if (child) { killedTree = true; stopEscalation = endTree(tree, "SIGTERM", 500); }
        stopTracer(0);
      }
    }
    feed.close();
  } finally {
    if (flushTimer) clearTimeout(flushTimer);
    clearTimeout(readyTimer);
    clearInterval(poll);
    if (stopTimer) clearTimeout(stopTimer);
    const tstatus = await tracerDone;
    if (killTimer) clearTimeout(killTimer);
    if (!began) {
      // bpftrace failed before it was ready: the stopped command must not run untraced
      if (child) { try { process.kill(child.pid!, "SIGKILL"); process.kill(child.pid!, "SIGCONT"); } catch { /* gone */ } }
    }
    const status = clientDone ? await clientDone : childDone ? await childDone : { code: 0, signal: null };
    await session?.end();
    stopEscalation?.();
    for (const s of sigs) process.off(s, onSignal);
    asm.end();
    cleanup();
    if (stdoutFd !== undefined) closeSync(stdoutFd);
    await new Promise<void>((r) => (raw && !rawError ? raw.end(r) : r()));
    const code = began ? exitCodeOf(status) : EXIT_RUN_FAILED;
    const wall = Math.round((Date.now() / 1000 - start) * 1e6) / 1e6;
    lost += asm.lost;
    const end: TraceRecord = { type: "end", exit: code, duration: wall, ...asm.counts, lost };
    if (lost || Object.keys(asm.lostKinds).length) end.lostKinds = { events: lost, ...asm.lostKinds };
    if (meter) {
      const c = meter.finish();
      if (c.source?.startsWith("cgroup")) c.source = "cgroup of the run: CPU and peak memory of the traced processes (bpftrace runs outside it); the memory counts the page cache the run filled";
      end.cost = { ...c, processes, wall } as Cost as unknown as Json;
    }
    const incomplete: string[] = [];
    if (tracerDied) incomplete.push(tracerDied);
    if (rawError) incomplete.push(`--raw ${o.raw}: ${writeFailure(rawError as NodeJS.ErrnoException)}`);
    if (writer.closed) incomplete.push("reader went away");
    if (lost > 0) incomplete.push(`lost ${lost} events`);
    for (const [kind, n] of Object.entries(asm.lostKinds)) if (n > 0) incomplete.push(`lost ${n} ${kind} ${n === 1 ? "piece" : "pieces"}`);
    const stillUp = mode === 3 && scope.id !== undefined && stillRunning(o.command[0], scope.id);
    const ending: Ending = { status: began ? status : { code: EXIT_RUN_FAILED, signal: null }, started: began, running: stillUp, killedByUs: killedTree, incomplete };
    if (!began) incomplete.push(interrupted ? `interrupted (${interrupted}) before the trace began` : "bpftrace did not start");
    Object.assign(end, endFields(ending, exitCodeOf));
    if (!began) end.exit = EXIT_RUN_FAILED;
    if (mode === 2) end.ended = existsSync(cg!.dir) ? "running" : "exited";     // interrupted, or the container stopped
    if (mode !== 1) { end.container = scope.id ?? null; end.dropped = scope.dropped; }
    if (mode === 3 && scope.id === undefined) { end.complete = false; end.incomplete = [...(end.incomplete as string[] ?? []), "no container was seen"]; }
    if (marks) end.container = cidNow(true) ?? null;
    writer.write(end);
    await writer.end();
    watchman.dismiss();
    if (tracerError) throw new UserError(`cannot run ${bpftrace}: ${tracerError.message}`, EXIT_RUN_FAILED);
    if (spawnError) throw new UserError(`cannot run the command: ${spawnError.message}`, EXIT_RUN_FAILED);
    if (!began && writer.error) return EXIT_RUN_FAILED;     // our standard output failed, and was said so
    if (!began && interrupted) throw new UserError(`interrupted (${interrupted}) before bpftrace was ready: the command did not run`, EXIT_RUN_FAILED);
    if (!began) {
      const said = stderrTail.split("\n").find((l) => /ERROR/.test(l)) ?? stderrTail.trim().split("\n").slice(-1)[0] ?? "";
      throw new UserError(`bpftrace failed (exit ${tstatus.code ?? tstatus.signal}): ${said.trim()}`, EXIT_RUN_FAILED);
    }
    if (rawError) throw new UserError(`--raw ${o.raw}: ${writeFailure(rawError as NodeJS.ErrnoException)} (the trace was stopped)`, EXIT_RUN_FAILED);
    // (the command layer has said so: one line for a failed standard output)
    if (writer.error) return EXIT_RUN_FAILED;
    if (tracerDied) {
      throw new UserError(`${tracerDied}: the trace is cut short` + (killedTree ? "; the traced processes were killed" : client ? "; the docker client was stopped" : ""), EXIT_RUN_FAILED);
    }
    if (writer.closed) return 0;
    if (lost > 0) tell.warn(`bpftrace lost ${lost} events: the trace is incomplete (a faster reader, or fewer events, would keep them)`);
    if (asm.counts.unparsed > 0) tell.warn(`${asm.counts.unparsed} lines of bpftrace output not understood`);
    if (mode === 3 && stillRunning(o.command[0], scope.id)) tell.warn(DETACHED);
    return code;
  }
}

/**
 * A process of the runtime re-executing its own binary: /proc/self/exe before pivot_root (runc's
 * clone of itself), or a file it holds open (execveat of a descriptor: a memfd). Told by what was
 * executed, never by the process's name, which the container's program chooses (a CMD of
 * /runc-init is called "runc-init").
 */
export function runtimeReexec(rec: SyscallRecord, pivoted: boolean): boolean {
  if (rec.syscall === "execveat" && rec.args?.[1] === "") return true;
  return !pivoted && rec.path === "/proc/self/exe";
}

/** Container runs: keeps the calls made in the container's cgroup, marks those of the runtime setting it up. */
export class BpfScope {
  /** In a container's cgroup the trace may begin after pivot_root (a process the runtime moves in,
   *  like docker exec's): the program starts with the first exec that is not the runtime's own. */
  private readonly marks = new RuntimeMarks((rec, pivoted) => !runtimeReexec(rec, pivoted));
  private present = false;
  id: string | undefined;
  dropped = 0;

  /** `dir`: a running container's cgroup directory, whose processes are the application's. */
  constructor(private readonly mode: number, id: string | undefined, private readonly cidNow: () => string | undefined, private readonly dir?: string) {
    this.id = id;
  }

  /** A running container: the processes in its cgroup when the trace begins are its program's, not the
   *  runtime's (read at the first record, so that none forked before the probes were in is missed). */
  private takePresent(): void {
    this.present = true;
    if (!this.dir) return;
    try {
      for (const l of readFileSync(join(this.dir, "cgroup.procs"), "utf8").split("\n")) if (/^\d+$/.test(l)) this.marks.application(Number(l));
    } catch { /* it is gone: its end is what the trace will see */ }
  }

  /** `parent` made `child`, told before the child's first record (a clone's own record may come after it). */
  forked(parent: number, child: number): void { this.marks.forked(parent, child); }

  scope(rec: TraceRecord, cgroup: number | undefined, cgroups: Map<number, string>): TraceRecord | null {
    if (rec.type !== "syscall" && rec.type !== "exit") return rec.type === "info" && this.mode === 3 ? null : rec;
    if (!this.present && this.mode === 2) this.takePresent();
    if (this.mode === 3) {
      const path = cgroup === undefined ? undefined : cgroups.get(cgroup);
      const want = this.cidNow();
      if (path === undefined || want === undefined || path.indexOf(want) < 0) { this.dropped++; return null; }
      this.id = want;
    }
    return this.marks.mark(rec, this.id);
  }
}
