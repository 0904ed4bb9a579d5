// trace-run --backend bpftrace: the kernel reports the calls, nothing stops the program. Three targets:
//  - a command: started stopped (run/stopped.ts: a launcher that stops itself, then execs it), so that
//    its pid is known and the probes are in place before its first instruction; traced with every task
//    it starts;
//  - docker run: every cgroup made from then on is watched, and the one whose path holds the new
//    container's id (from --cidfile) is kept;
//  - --container ID|NAME: a running container, by its cgroup v2 directory, until ^C or until it stops.
// The backend spawns bpftrace with its program and reads its stderr; the session does the rest.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { arch as osArch } from "node:os";
import { join } from "node:path";
import { bpfProgram, BPF_STRLEN, CALL_TABLE } from "../bpf/program.js";
import { BpfAssembler } from "../bpf/bpftrace.js";
import { bpfDenied } from "../bpf/check.js";
import { cgroup2Root } from "./cost.js";
import { UserError } from "../errors.js";
import { RuntimeMarks } from "./container.js";
import type { SyscallRecord, TraceRecord } from "../io/records.js";
import { EXIT_RUN_FAILED, alive, type ProcStatus } from "./session.js";
import { type Backend, type CaptureOptions, type Start, type Tracer, type Tracing } from "./backend.js";
import { launches, type Target } from "./target.js";
import { killStopped, release, startStopped } from "./stopped.js";

const TRACEFS = "/sys/kernel/tracing";
/** How long the end waits for bpftrace to have printed every CPU's lines up to it (see stopTracer). */
const DRAIN_MS = 30_000;


/** Whether every thread of process `pid` is asleep in epoll_wait (bpftrace between reads of its buffers). */
function waitingInPoll(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    const tasks = readdirSync(`/proc/${pid}/task`);
    return tasks.length > 0 && tasks.every((t) => readFileSync(`/proc/${pid}/task/${t}/wchan`, "utf8") === "do_epoll_wait");
  } catch { return false; }
}

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

/**
 * Whether a launched tree has ended, as a kernel backend reads it: every task of the tree read exiting
 * ("read": the tracer may still hold a backlog of earlier events, and stopping it sooner would drop
 * them), or, should an exit never come (lost), every task left gone from /proc once the tracer has been
 * quiet for 2 s ("gone").
 */
export function treeEnd(live: number[], quietMs: number): "read" | "gone" | undefined {
  if (live.length === 0) return "read";
  if (quietMs > 2000 && live.every((p) => !existsSync(`/proc/${p}`))) return "gone";
  return undefined;
}

/** The program for this machine's architecture. */
export function programForHost(): string {
  const a = osArch();
  if (a !== "x64" && a !== "arm64") throw new UserError(`the bpftrace backend knows the system call numbers of x86-64 and arm64, not ${a}`, EXIT_RUN_FAILED);
  return bpfProgram(a === "arm64" ? "aarch64" : "x86_64");
}

/** A running container's main pid and full id, from docker inspect. */
export function inspect(name: string): { id: string; pid: number } {
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

export const bpftrace: Backend = {
  name: "bpftrace",
  usage: "trace-run --backend bpftrace [OPTIONS] -- COMMAND [ARGS...]",
  targets: ["command", "podman-run", "docker-run", "container"],
  takes: ["raw"],
  output: "bpftrace's lines",
  meteredSource: "cgroup of the run: CPU and peak memory of the traced processes (bpftrace runs outside it); the memory counts the page cache the run filled",
  version: (o) => {
    // it loads programs into the kernel: without root there is nothing to probe
    if (process.getuid?.() !== 0) throw new UserError("the bpftrace backend needs root (bpftrace loads programs into the kernel)", EXIT_RUN_FAILED);
    const v = bpftraceVersion(o.tracer ?? "bpftrace");
    // root the kernel lets load no BPF program (a container without CAP_BPF): bpftrace would only fail
    // at its start, so it is said now, as the eBPF loader's check found it
    const denied = bpfDenied();
    if (denied) throw new UserError(`bpftrace cannot load its programs here either (as the eBPF loader's check found): ${denied}`, EXIT_RUN_FAILED);
    // (a program of the user's, LEASTPRIV_BPF_PROGRAM, may be of another table)
    return process.env.LEASTPRIV_BPF_PROGRAM ? v : `${v} (call table ${CALL_TABLE})`;
  },
  preflight: (target, o) => {
    ensureTracefs();
    const running = target.kind === "container" ? inspect(target.name) : undefined;
    const cg = running ? cgroupOf(running.pid) : undefined;
    if (target.kind === "docker-run" && !cgroup2Root()) throw new UserError("no cgroup v2 hierarchy is mounted: the bpftrace backend finds containers by their cgroup v2 id", EXIT_RUN_FAILED);
    return new BpfTracer(target, o, running && cg ? { id: running.id, cg } : undefined);
  },
};

type Running = { id: string; cg: { path: string; dir: string; id: number } };

class BpfTracer implements Tracer {
  private programFile = "";

  constructor(private readonly target: Target, private readonly o: CaptureOptions, private readonly running?: Running) {}

  prepare(dir: string) {
    this.programFile = join(dir, "leastpriv.bt");
    writeFileSync(this.programFile, process.env.LEASTPRIV_BPF_PROGRAM ? readFileSync(process.env.LEASTPRIV_BPF_PROGRAM, "utf8") : programForHost());
    return this.running ? { container: this.running.id, cgroup: this.running.cg.path } : {};
  }

  async start(s: Start): Promise<Tracing> {
    const bin = this.o.tracer ?? "bpftrace";
    const t = this.target;
    const target = this.running;
    const cg = target?.cg;
    const marks = s.marks;
    // a command: started stopped, and continued (to exec the command in its place) once the probes are in
    const launched = launches(t) ? await startStopped(s) : undefined;
    const child = launched?.child;
    const childDone = launched?.done;

    const mode = t.kind === "container" ? 2 : t.kind === "docker-run" ? 3 : 1;
    const id = target ? cg!.id : child ? child.pid! : 0;
    const tracer = spawn(bin, ["-B", "line", "-f", "json", this.programFile, String(mode), String(id), mode === 1 ? s.cwd : ""], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, BPFTRACE_STRLEN: String(BPF_STRLEN), BPFTRACE_MAP_KEYS_MAX: "65536", BPFTRACE_PERF_RB_PAGES: process.env.BPFTRACE_PERF_RB_PAGES || "4096" },
    });
    s.watchman.kill(tracer.pid);
    let tracerError: Error | undefined;
    tracer.on("error", (e) => { tracerError = e; });
    let childStatus: ProcStatus | undefined;
    childDone?.then((st) => { childStatus = st; });
    // The traced tree of a command: its cgroup (bpftrace runs outside it), and what the trace shows alive
    const tree = () => child ? [...new Set([...(s.meter?.procs() ?? []), ...asm.livePids().filter(alive), ...(childStatus ? [] : [child.pid!])])] : [];
    let stopping = false;
    let began = false;
    const tracerDone = new Promise<ProcStatus>((resolve) => tracer.on("close", (code, signal) => {
      // bpftrace ended before we asked it to: the rest of the run would go unseen, so it is stopped
      if (!stopping && began) s.died(`bpftrace ${signal ? "killed by " + signal : "exited with " + code}`, tree);
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
        s.tell.warn(`bpftrace: ${l}`);
      }
    });

    const scope = new BpfScope(mode, target?.id, s.cidNow, cg?.dir);
    const asm = new BpfAssembler((rec, cgroup) => {
      const r = mode !== 1 ? scope.scope(rec, cgroup, asm.cgroups) : marks ? marks.mark(rec, s.cidNow()) : rec;
      if (r) s.emit(r);
      return r !== null;
    }, { cwd: mode === 1 ? s.cwd : undefined });
    asm.onFork = (parent, child) => { scope.forked(parent, child); marks?.forked(parent, child); };
    asm.startFile("bpftrace");

    // the end: the command and every task it started are gone; a new container's client is done; a running one stopped
    let stopTimer: NodeJS.Timeout | undefined;
    let behind: string | undefined;
    const stopTracer = (delay: number, drain = true) => {
      if (stopping) return;
      stopping = true;
      // bpftrace, on SIGINT, drops what the buffers it has not read yet hold (a busy CPU's lines can be a
      // second behind): it is stopped once every CPU's ticks have passed the moment of the stop (the
      // kernel's monotonic clock is process.hrtime's), or when it is gone
      const upTo = Number(process.hrtime.bigint()) + delay * 1e6;
      const since = Date.now();
      const gone = () => tracer.exitCode !== null || tracer.signalCode !== null;
      // an idle CPU takes no profile samples, so its ticks stop (one took 6 s between two): bpftrace
      // waiting in epoll, with no line but ticks come for a while, twice in a row, has every CPU's
      // buffer read (a buffer holding lines would have woken it)
      let idleChecks = 0;
      const drained = () => {
        idleChecks = Date.now() - lastData >= 200 && waitingInPoll(tracer.pid) ? idleChecks + 1 : 0;
        return idleChecks >= 2;
      };
      const interrupt = () => {
        if (drain && !gone() && !asm.readPast(upTo) && !drained()) {
          if (Date.now() - since < DRAIN_MS) { stopTimer = setTimeout(interrupt, 50); return; }
          behind = `bpftrace stopped with its lines not all read (still behind ${DRAIN_MS / 1000} s after the end)`;
        }
        // bpftrace ends on SIGINT; should it not, it is killed a moment later (the probes go with it)
        tracer.kill("SIGINT");
        stopTimer = setTimeout(() => tracer.kill("SIGKILL"), 3000);
      };
      stopTimer = setTimeout(interrupt, delay);
    };
    let lastData = Date.now(), lastEvents = 0;
    const poll = setInterval(() => {
      if (process.env.LEASTPRIV_DEBUG) s.tell.warn(`debug: ready=${asm.ready} child=${JSON.stringify(childStatus)} live=${asm.livePids().join(",")} stopping=${stopping}`);
      if (mode === 1 && childStatus && asm.ready) {
        const end = treeEnd(asm.livePids(), Date.now() - lastData);
        if (end) stopTracer(end === "read" ? 300 : 0);
      }
      if (mode === 2 && !existsSync(cg!.dir)) stopTracer(200);
    }, 100);

    let interrupted: NodeJS.Signals | undefined;     // a signal that came before the trace began
    const readyTimer = setTimeout(() => {
      if (!asm.ready) { s.tell.warn("bpftrace did not start within 120 s"); tracer.kill("SIGKILL"); }
    }, 120000);
    const begin = () => {
      if (began) return;
      began = true;
      clearTimeout(readyTimer);
      if (child) release(child);
      s.begin();
    };
    let flushTimer: NodeJS.Timeout | undefined;

    return {
      reader: asm,
      output: tracer.stdout!,
      scope: mode !== 1 ? scope : undefined,
      tree,
      began: () => began,
      afterChunk: () => {
        // the ticks come all the time: only other lines say that the trace is not quiet
        if (asm.eventLines !== lastEvents) { lastEvents = asm.eventLines; lastData = Date.now(); }
        if (asm.ready) begin();
        // a quiet moment: release what may be released, so that a live reader sees it
        if (flushTimer) clearTimeout(flushTimer);
        flushTimer = setTimeout(() => { asm.quiet(); s.writer.flush(); }, 300);
      },
      // the reader or the --raw file gone, the rest of the lines would go nowhere: no waiting for them
      stop: (why) => stopTracer(why === "client" ? 500 : why === "raw" && child ? 1000 : 0, why === "client"),
      signal: (sig) => {
        if (!began) interrupted ??= sig;
        stopTracer(0);
      },
      finish: async () => {
        if (flushTimer) clearTimeout(flushTimer);
        clearTimeout(readyTimer);
        clearInterval(poll);
        if (stopTimer) clearTimeout(stopTimer);
        const tstatus = await tracerDone;
        // bpftrace failed before it was ready: the stopped command must not run untraced
        if (!began && child) killStopped(child);
        const status = childDone ? await childDone : { code: 0, signal: null };
        await launched?.session?.end();
        asm.end();
        let failure: UserError | number | undefined;
        if (tracerError) failure = new UserError(`cannot run ${bin}: ${tracerError.message}`, EXIT_RUN_FAILED);
        else if (launched?.spawnError()) failure = new UserError(`cannot run the command: ${launched.spawnError()!.message}`, EXIT_RUN_FAILED);
        else if (!began && s.writer.error) failure = EXIT_RUN_FAILED;     // our standard output failed, and was said so
        else if (!began && interrupted) failure = new UserError(`interrupted (${interrupted}) before bpftrace was ready: the command did not run`, EXIT_RUN_FAILED);
        else if (!began) {
          const said = stderrTail.split("\n").find((l) => /ERROR/.test(l)) ?? stderrTail.trim().split("\n").slice(-1)[0] ?? "";
          failure = new UserError(`bpftrace failed (exit ${tstatus.code ?? tstatus.signal}): ${said.trim()}`, EXIT_RUN_FAILED);
        }
        return {
          status, started: began,
          notStarted: interrupted ? `interrupted (${interrupted}) before the trace began` : "bpftrace did not start",
          // interrupted, or the container stopped
          ended: mode === 2 ? (existsSync(cg!.dir) ? "running" : "exited") : undefined,
          lost: lost + asm.lost, lostKinds: asm.lostKinds, failure, tracerDied: behind,
        };
      },
    };
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
