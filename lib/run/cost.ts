// What a traced run cost: CPU time and peak memory from a cgroup of its own (v2, or v1's cpuacct and memory), with the
// tracer's own CPU taken out. strace is started inside a fresh cgroup (a perl one-liner moves itself there and
// execs strace, so nothing extra is traced); the cgroup then holds strace and every traced process.
// strace's own CPU is read from /proc/PID/stat every 100 ms and subtracted at the end.

import { existsSync, mkdirSync, readFileSync, rmdirSync, statfsSync } from "node:fs";
import { join } from "node:path";

export interface Cost {
  cpuUser?: number;          // seconds, traced processes only
  cpuSystem?: number;        // seconds, traced processes only (tracing adds kernel time of its own to each stop)
  peakMemory?: number;       // bytes: cgroup memory.peak (the traced processes, their page cache, and strace)
  processes?: number;        // processes started (successful forks), plus the first
  wall?: number;             // seconds
  source?: string;           // how the figures were measured, and what they include
}

const TICK = 100;            // USER_HZ: /proc/PID/stat counts CPU in 1/100 s on Linux
const CGROUP2 = 0x63677270, CGROUP1 = 0x27e0eb;

function fsType(p: string): number | undefined {
  try { return Number(statfsSync(p).type); } catch { return undefined; }
}

/** Where the cgroup v2 hierarchy is: /sys/fs/cgroup (unified), or /sys/fs/cgroup/unified on a hybrid host. */
export function cgroup2Root(): string | undefined {
  return ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"].find((r) => fsType(r) === CGROUP2);
}

export class CostMeter {
  private dirs: string[] = [];               // the cgroups made for this run, in whichever hierarchies there are
  private cpu?: { dir: string; v2: boolean };
  private mem?: { dir: string; v2: boolean };
  private tracerUser = 0;
  private tracerSystem = 0;
  private timer?: NodeJS.Timeout;

  constructor() {
    const name = `leastpriv-${process.pid}-${Date.now()}`;
    const make = (root: string): string | undefined => {
      try { const d = join(root, name); mkdirSync(d); this.dirs.push(d); return d; } catch { return undefined; }
    };
    // cgroup v2 (unified, or its hybrid mount), else the v1 cpuacct and memory hierarchies
    const v2root = cgroup2Root();
    const v2 = v2root ? make(v2root) : undefined;
    if (v2 && existsSync(join(v2, "cpu.stat"))) this.cpu = { dir: v2, v2: true };
    if (v2 && existsSync(join(v2, "memory.peak"))) this.mem = { dir: v2, v2: true };
    if (!this.cpu) {
      const root = ["/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"].find((r) => fsType(r) === CGROUP1);
      const d = root ? make(root) : undefined;
      if (d) this.cpu = { dir: d, v2: false };
    }
    if (!this.mem && fsType("/sys/fs/cgroup/memory") === CGROUP1) {
      const d = make("/sys/fs/cgroup/memory");
      if (d) this.mem = { dir: d, v2: false };
    }
  }

  /** The argv that starts `cmd` inside the cgroups (unchanged when there are none). */
  wrap(cmd: string[]): string[] {
    if (!this.dirs.length) return cmd;
    // perl, not sh: a shell exports PWD (and bash may read startup files), and the command must get
    // trace-run's environment as it is
    const script = 'my $n = shift; for (1 .. $n) { my $d = shift; my $f; open($f, ">", "$d/cgroup.procs") && print({$f} "$$\\n") && close($f) or exit 125 } ' +
      'exec { $ARGV[0] } @ARGV; print STDERR "$ARGV[0]: $!\\n"; exit($!{ENOENT} ? 127 : 126)';
    return ["perl", "-e", script, String(this.dirs.length), ...this.dirs, ...cmd];
  }

  /** Starts sampling the tracer's own CPU. */
  watch(pid: number | undefined): void {
    if (!this.dirs.length || pid === undefined) return;
    const sample = () => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        // after perl has exec'd strace (field 1 of what follows the name is the state; 12 and 13 utime, stime)
        this.tracerUser = Number(f[11]) / TICK;
        this.tracerSystem = Number(f[12]) / TICK;
      } catch { /* gone */ }
    };
    sample();
    this.timer = setInterval(sample, 100);
    this.timer.unref();
  }

  /** The processes in the run's cgroup now (empty without one): the traced tree, and strace. */
  procs(): number[] {
    const d = this.dirs[0];
    if (!d) return [];
    try { return readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number); } catch { return []; }
  }

  /** The cgroup directories of the run. */
  get cgroups(): string[] { return [...this.dirs]; }

  /** Whether the run has a cgroup, so that procs() sees every process of the tree. */
  get measured(): boolean { return this.dirs.length > 0; }

  /** The figures, once strace has ended; removes the cgroups. */
  finish(): Cost {
    if (this.timer) clearInterval(this.timer);
    const out: Cost = {};
    const read = (d: string, f: string) => readFileSync(join(d, f), "utf8").trim();
    try {
      let user: number, system: number;
      if (this.cpu?.v2) {
        const stat = Object.fromEntries(read(this.cpu.dir, "cpu.stat").split("\n").map((l) => l.split(" ")));
        user = Number(stat.user_usec) / 1e6; system = Number(stat.system_usec) / 1e6;
      } else if (this.cpu) {
        user = Number(read(this.cpu.dir, "cpuacct.usage_user")) / 1e9; system = Number(read(this.cpu.dir, "cpuacct.usage_sys")) / 1e9;
      } else throw new Error("no cpu accounting");
      out.cpuUser = round(Math.max(0, user - this.tracerUser));
      out.cpuSystem = round(Math.max(0, system - this.tracerSystem));
    } catch { /* not measured */ }
    try {
      if (this.mem) out.peakMemory = Number(read(this.mem.dir, this.mem.v2 ? "memory.peak" : "memory.max_usage_in_bytes"));
    } catch { /* not measured */ }
    out.source = this.dirs.length
      ? `cgroup ${this.cpu?.v2 === false ? "v1 (cpuacct, memory)" : "v2"} of the run: CPU of the traced processes (the cgroup's, less strace's own as sampled every 0.1 s); ` +
        "peak memory of the cgroup, which holds strace too and counts the page cache the run filled"
      : "no cgroup to measure in (needs root and a writable /sys/fs/cgroup): CPU and memory not measured";
    this.remove();
    return out;
  }

  /** Removes the cgroups (a process still leaving may keep one busy for a moment). */
  remove(): void {
    if (this.timer) clearInterval(this.timer);
    for (const d of this.dirs) {
      for (let i = 0; i < 50; i++) {
        try { rmdirSync(d); break; } catch { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); }
      }
    }
    this.dirs = [];
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
