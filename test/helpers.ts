// Test helpers: parse a captured fixture through the same stages trace-parse uses.
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Assembler, type AssembleOptions } from "../lib/strace/assemble.js";
import { readAll } from "../lib/trace/reader.js";
import type { SyscallRecord, TraceRecord } from "../lib/io/records.js";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const FIX = ROOT + "test/fixtures/strace/";

export function parseText(text: string | Buffer, opts: AssembleOptions = {}, file = "-", pid: number | null = null): TraceRecord[] {
  const out: TraceRecord[] = [];
  readAll(new Assembler((r) => out.push(r), opts), text, file, pid);
  return out;
}

export function fixture(name: string, opts: AssembleOptions = {}): TraceRecord[] {
  return parseText(readFileSync(FIX + name), opts, name);
}

export function fixtureLines(name: string): string[] {
  return readFileSync(FIX + name, "utf8").split("\n").filter((l) => l !== "");
}

export function calls(recs: TraceRecord[], name?: string): SyscallRecord[] {
  return recs.filter((r): r is SyscallRecord => r.type === "syscall" && (name === undefined || r.syscall === name));
}

export function fixtureNames(): string[] {
  return readdirSync(FIX).filter((f) => f.endsWith(".strace")).sort();
}

/** Runs a built executable with a fixed environment. */
export function run(cmd: string, args: string[], input?: string | Buffer, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [ROOT + "dist/commands/" + cmd + ".js", ...args], {
    input, cwd: ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "dumb", TZ: "UTC", LANG: "C", ...env },
    maxBuffer: 1 << 28,
  });
  // stdout as text (UTF-8, invalid bytes replaced) and, for output whose bytes matter, as bytes
  return { status: r.status, stdout: r.stdout.toString(), bytes: r.stdout as Buffer, stderr: r.stderr.toString(), records: () => r.stdout.toString().split("\n").filter(Boolean).map((l) => JSON.parse(l)) };
}

/**
 * Runs `fn` while holding the lock on the host's permissions: the tests that grant ACLs and groups
 * and then compare getfacl before and after must not overlap (vitest runs test files in parallel).
 */
export function withHostLock<T>(fn: () => T): T {
  const lock = "/tmp/leastpriv-test-host-lock";
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try { mkdirSync(lock); break; } catch {
      if (staleLock(lock)) { rmSync(lock, { recursive: true, force: true }); continue; }
      if (Date.now() > deadline) throw new Error(`${lock}: held for 15 minutes (a test run that died? remove it)`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  writeFileSync(`${lock}/pid`, `${process.pid}\n`);
  try { return fn(); } finally { rmSync(lock, { recursive: true, force: true }); }
}

// A test process killed while holding the lock (a timeout, ^C) leaves it behind and every later
// run waits 15 minutes on it. The holder writes its pid; a lock whose holder is gone is stale. A lock
// without a pid file is only judged after two minutes, so one just being taken is never removed.
function staleLock(lock: string): boolean {
  let pid: number;
  try { pid = Number(readFileSync(`${lock}/pid`, "utf8")); } catch {
    try { return Date.now() - statSync(lock).mtimeMs > 120_000; } catch { return false; }
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return false; } catch (e) { return (e as NodeJS.ErrnoException).code === "ESRCH"; }
}
