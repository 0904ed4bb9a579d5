// Helpers of the fault tests: start trace-run with a mark in its environment (which every process of
// the run inherits), wait for conditions, find what a run left (processes, temp dirs, cgroups).
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { expect } from "vitest";
import { ROOT } from "./helpers.js";

export const TR = ROOT + "dist/commands/trace-run.js";
let serial = 0;

export interface Run {
  pid: number;
  mark: string;
  stdout: () => string;
  stderr: () => string;
  records: () => any[];
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** trace-run itself has exited (`done` waits for its output pipes too, which what it started may hold). */
  exited: Promise<void>;
}

export function start(args: string[], env: Record<string, string> = {}): Run {
  const mark = `fault-${process.pid}-${++serial}`;
  const p = spawn(process.execPath, [TR, ...args], {
    cwd: ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "dumb", TZ: "UTC", LANG: "C", ...env, LEASTPRIV_FAULT: mark },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "", err = "";
  p.stdout.on("data", (d) => { out += d; });
  p.stderr.on("data", (d) => { err += d; });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.on("close", (code, signal) => r({ code, signal })));
  const exited = new Promise<void>((r) => p.on("exit", () => r()));
  return {
    pid: p.pid!, mark, done, exited, stdout: () => out, stderr: () => err,
    records: () => out.split("\n").filter(Boolean).map((l) => JSON.parse(l)),
  };
}

export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function stat(pid: string): { ppid: number; state: string; comm: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { state: rest[0], ppid: Number(rest[1]), comm: s.slice(s.indexOf("(") + 1, s.lastIndexOf(")")) };
  } catch { return undefined; }
}

/** The child of `ppid` named `comm`, if there is one now (the tracer: not `strace -V` or the preflight). */
export function childNamed(ppid: number, comm: string): number | undefined {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const s = stat(d);
    if (!s || s.ppid !== ppid || s.comm !== comm) continue;
    // the run's tracer works in the run's temp dir (strace's FIFO, bpftrace's program)
    try { if (!readFileSync(`/proc/${d}/cmdline`, "utf8").includes("/trace-run-")) continue; } catch { continue; }
    return Number(d);
  }
  return undefined;
}

/** What a run left: processes with its mark (and their state), its temp dirs and cgroups. */
export function leftovers(run: Run): string[] {
  const left: string[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === run.pid) continue;
    let env: string;
    try { env = readFileSync(`/proc/${d}/environ`, "latin1"); } catch { continue; }
    if (!env.split("\0").includes(`LEASTPRIV_FAULT=${run.mark}`)) continue;
    const s = stat(d);
    if (s && s.state !== "Z") left.push(`process ${d} ${s.comm} (state ${s.state})`);
  }
  for (const n of readdirSync(tmpdir())) if (n.startsWith(`trace-run-${run.pid}-`)) left.push(`${tmpdir()}/${n}`);
  for (const root of cgroupRoots()) for (const n of readdirSync(root)) if (n.startsWith(`leastpriv-${run.pid}-`)) left.push(`${root}/${n}`);
  return left;
}

export function cgroupRoots(): string[] {
  return ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"]
    .filter((r) => { try { return [0x63677270, 0x27e0eb].includes(Number(statfsSync(r).type)); } catch { return false; } });
}

/** Nothing of the run is left; processes the kernel is still tearing down get a few seconds. */
export async function nothingLeft(run: Run): Promise<void> {
  try { await until(() => leftovers(run).length === 0, 8000, "the run's leftovers to go"); } catch { /* shown below */ }
  expect(leftovers(run)).toEqual([]);
}

export const end = (run: Run) => run.records().at(-1);
export const has = (run: Run, pred: (r: any) => boolean) => () => run.stdout().split("\n").filter(Boolean).some((l) => { try { return pred(JSON.parse(l)); } catch { return false; } });
export const execOf = (name: string) => (r: any) => r.type === "syscall" && r.kind === "exec" && r.ok && r.argv?.[0] === name;
