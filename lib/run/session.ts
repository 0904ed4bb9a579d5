// What every trace-run backend shares about a run's life and end: its temporary directory (and the
// leftovers of runs that died), ending the traced tree, and the end record's account of how the trace
// and the command ended (trace-records(5): ended, complete, incomplete).

import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, rmdirSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { join } from "node:path";
import { cgroup2Root } from "./cost.js";
import type { EndRecord } from "../io/records.js";

/** Whether a process is there (a zombie is not: it runs nothing). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
  } catch { return false; }
}

function tryKill(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* gone */ }
}

/**
 * Removes what runs that died (kill -9, a crash) left behind: their temporary directories and their
 * empty cgroups, each named with the pid of the trace-run that made it. Only a run whose pid is gone
 * is touched, never a live one's; a cgroup that still holds processes is left alone.
 */
export function cleanStale(): void {
  const dead = (name: string, re: RegExp) => {
    const m = re.exec(name);
    return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]));
  };
  try {
    for (const n of readdirSync(tmpdir())) {
      if (dead(n, /^trace-run-(\d+)-[A-Za-z0-9]{6}$/)) rmSync(join(tmpdir(), n), { recursive: true, force: true });
    }
  } catch { /* no temp dir to read */ }
  const roots = [cgroup2Root(), "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory"];
  for (const root of new Set(roots)) {
    if (!root) continue;
    let names: string[];
    try { names = readdirSync(root); } catch { continue; }
    for (const n of names) {
      if (!dead(n, /^leastpriv-(\d+)-\d+$/)) continue;
      try { rmdirSync(join(root, n)); } catch { /* busy: processes of that run are still there */ }
    }
  }
}

/** The run's temporary directory (named with our pid, so that a later run can tell it is stale). */
export function runDir(): string {
  cleanStale();
  return mkdtempSync(join(tmpdir(), `trace-run-${process.pid}-`));
}

/**
 * Ends a traced tree: `sig` to every process of it now; then, after `grace` ms, SIGKILL to whatever is
 * still there, again and again until none is (a process forking meanwhile has its child listed next
 * time). `pids` lists the tree as it is now. Returns a function that stops the escalation.
 */
export function endTree(pids: () => number[], sig: NodeJS.Signals, grace: number): () => void {
  for (const p of pids()) tryKill(p, sig);
  let timer: NodeJS.Timeout | undefined;
  let tries = 0;
  const kill = () => {
    const left = pids();
    for (const p of left) tryKill(p, "SIGKILL");
    if (left.length && ++tries < 200) timer = setTimeout(kill, 25);
  };
  if (grace >= 0) timer = setTimeout(kill, grace);
  return () => { if (timer) clearTimeout(timer); };
}

/** A failed write in a few words: "No space left on device" (Node's messages say "ENOSPC: …, write"). */
export function writeFailure(e: NodeJS.ErrnoException): string {
  const text: Record<string, string> = {
    ENOSPC: "No space left on device", EDQUOT: "Disk quota exceeded", EIO: "Input/output error", EFBIG: "File too large",
    EPIPE: "Broken pipe", EACCES: "Permission denied", EISDIR: "Is a directory", ENOENT: "No such file or directory", EROFS: "Read-only file system",
  };
  return (e.code && text[e.code]) || e.message;
}

/**
 * A watchman for the case trace-run itself dies (kill -9, a crash): a small process of its own session
 * that waits on a pipe from us. When the pipe closes without our goodbye, it kills what the run left
 * (the tree in the run's cgroup first, then the tracer: a tree left under strace's seccomp filter cannot
 * run correctly), removes the cgroups and the temporary directory, and asks the docker client to stop.
 */
export class Watchman {
  private readonly child;

  constructor(tmp: string, cgroups: string[]) {
    const script = String.raw`$SIG{TERM} = sub { exit 0 }; my ($tmp, @cg) = @ARGV; my (@k, @t);
      while (my $l = <STDIN>) { push @k, $1 if $l =~ /^k (\d+)/; push @t, $1 if $l =~ /^t (\d+)/ }
      kill 'TERM', @t if @t;
      for (1 .. 400) { my @p; for my $d (@cg) { if (open(my $f, '<', "$d/cgroup.procs")) { push @p, grep { /^\d+$/ } map { chomp; $_ } <$f> } }
        last unless @p; kill 'KILL', @p; select(undef, undef, undef, 0.025) }
      kill 'KILL', @k if @k;
      for (1 .. 40) { last unless grep { !rmdir($_) && -d $_ } @cg; select(undef, undef, undef, 0.05) }
      system('rm', '-rf', '--', $tmp) if $tmp ne '';`;
    this.child = spawn("perl", ["-e", script, tmp, ...cgroups], { detached: true, stdio: ["pipe", "ignore", "ignore"] });
    this.child.on("error", () => { /* no perl: the next run cleans up instead */ });
    this.child.stdin!.on("error", () => { /* gone */ });
    this.child.unref();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  /** A process to SIGKILL should we die (the tracer), or to SIGTERM (the docker client). */
  kill(pid: number | undefined): void { if (pid) this.child.stdin!.write(`k ${pid}\n`); }
  term(pid: number | undefined): void { if (pid) this.child.stdin!.write(`t ${pid}\n`); }

  /** We are ending in good order, having cleaned up: the watchman goes without doing anything. */
  dismiss(): void {
    try { if (this.child.pid) process.kill(this.child.pid, "SIGTERM"); } catch { /* gone */ }
  }
}

/** How a process ended, as its "close" event tells it: an exit code, or the signal that killed it. */
export interface ProcStatus { code: number | null; signal: NodeJS.Signals | null }

/** trace-run's own failures: not the traced command's status (126, 127, 128+N are taken). */
export const EXIT_RUN_FAILED = 125;

/** A status as a shell tells it: the exit code, or 128 + the signal's number. */
export function exitCodeOf(s: ProcStatus): number {
  if (s.signal) return 128 + (osConstants.signals[s.signal] ?? 15);
  return s.code ?? EXIT_RUN_FAILED;
}

/** How a trace ended, as trace-run saw it; turned into the end record's fields. */
export interface Ending {
  status: ProcStatus;   // the command's (or the client's)
  started: boolean;                 // the command ran (false: trace-run failed before it could)
  detached?: boolean;               // -p: the tracer let go of the processes, which run on
  running?: boolean;                // still running when the trace ended (docker run -d)
  killedByUs?: boolean;             // trace-run ended the command (the tracer died, a write failed)
  incomplete: string[];             // why the trace is not whole, each a short phrase
}

/** The end record's `exit`, `signal`, `ended`, `complete` and `incomplete`, from how the run ended. */
export function endFields(e: Ending, exitOf: (s: Ending["status"]) => number): Partial<EndRecord> {
  const out: Partial<EndRecord> = {};
  if (!e.started) { out.exit = exitOf(e.status); out.ended = "not-started"; }
  else if (e.detached) out.ended = "detached";
  else {
    out.exit = exitOf(e.status);
    if (e.status.signal) out.signal = e.status.signal;
    out.ended = e.running ? "running" : e.status.signal ? "killed" : "exited";
  }
  out.complete = e.incomplete.length === 0;
  if (e.incomplete.length) out.incomplete = [...e.incomplete];
  return out;
}
