// Faults injected on purpose into real runs: signals, kill -9 of trace-run and of each tracer at
// start-up and mid-run, full disks, leftovers of dead runs (two container traces at once: in
// containers.test.ts, with the other tests that hold containerd). Each case
// checks trace-run's exit status, its end record, and that nothing of the run is left running,
// stopped, or on disk. Every process of a run carries LEASTPRIV_FAULT in its environment, by which
// the leftovers are found.
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT } from "../helpers.js";

import { TR, cgroupRoots, childNamed, end, execOf, has, leftovers, nothingLeft, start, stat, until, type Run } from "../faults.js";

// a loop that ignores INT and TERM, so that only escalation ends it
const stubborn = ["sh", "-c", "trap '' INT TERM; while :; do cat /etc/hostname >/dev/null; sleep 0.05; done"];
const loop = ["sh", "-c", "while :; do cat /etc/hostname >/dev/null; sleep 0.05; done"];

describe("faults: signals reach the whole traced tree and are escalated", () => {
  for (const backend of ["strace", "bpftrace"]) {
    it(`${backend}: SIGINT ends sh -c 'sleep 15; echo x' at once (sleep gets it too)`, async () => {
      const run = start(["--backend", backend, "--", "sh", "-c", "sleep 15; echo x"]);
      await until(has(run, execOf("sleep")), 60000, "sleep to start");
      const t0 = Date.now();
      process.kill(run.pid, "SIGINT");
      const s = await run.done;
      expect(Date.now() - t0).toBeLessThan(8000);
      expect(s.code).toBe(130);
      expect(end(run)).toMatchObject({ type: "end", exit: 130, signal: "SIGINT", ended: "killed", complete: true });
      expect(run.stderr()).not.toContain("x\n");
      await nothingLeft(run);
    }, 90000);

    it(`${backend}: a tree that ignores INT and TERM is killed a few seconds after SIGINT`, async () => {
      const run = start(["--backend", backend, "--", ...stubborn]);
      await until(has(run, execOf("cat")), 60000, "the loop to run");
      process.kill(run.pid, "SIGINT");
      const s = await run.done;
      expect(s.code).toBe(137);
      expect(end(run)).toMatchObject({ type: "end", exit: 137, signal: "SIGKILL", ended: "killed", complete: true });
      await nothingLeft(run);
    }, 90000);
  }
});

describe("faults: the tracer dies", () => {
  it("strace killed mid-run: the tree is killed at once, the end record says why, no ENOSYS", async () => {
    const run = start(["--backend", "strace", "--", ...loop]);
    await until(has(run, execOf("cat")), 30000, "the loop to run");
    const strace = childNamed(run.pid, "strace")!;
    process.kill(strace, "SIGKILL");
    const s = await run.done;
    expect(s.code).toBe(125);
    expect(end(run)).toMatchObject({ type: "end", ended: "killed", signal: "SIGKILL", complete: false, incomplete: ["strace killed by SIGKILL"] });
    expect(run.stderr()).toMatch(/^trace-run: strace killed by SIGKILL: the trace is cut short; the traced processes were killed/);
    expect(run.stderr().trim().split("\n")).toHaveLength(1);        // no "Function not implemented", no "Cannot fork"
    await nothingLeft(run);
  }, 60000);

  it("strace killed at start-up: exit 125, a cut-short end record, nothing left", async () => {
    const run = start(["--backend", "strace", "--", ...loop]);
    let strace: number | undefined;
    await until(() => (strace = childNamed(run.pid, "strace")) !== undefined, 30000, "strace to start");
    process.kill(strace!, "SIGKILL");
    const s = await run.done;
    expect(s.code).toBe(125);
    expect(end(run)).toMatchObject({ type: "end", complete: false, incomplete: ["strace killed by SIGKILL"] });
    await nothingLeft(run);
  }, 60000);

  it("bpftrace killed mid-run: the tree is stopped, lost is not the whole story", async () => {
    const run = start(["--backend", "bpftrace", "--", ...loop]);
    await until(has(run, execOf("cat")), 60000, "the loop to run");
    process.kill(childNamed(run.pid, "bpftrace")!, "SIGKILL");
    const s = await run.done;
    expect(s.code).toBe(125);
    expect(end(run)).toMatchObject({ type: "end", ended: "killed", signal: "SIGKILL", complete: false, incomplete: ["bpftrace killed by SIGKILL"] });
    expect(run.stderr()).toMatch(/^trace-run: bpftrace killed by SIGKILL: the trace is cut short/);
    await nothingLeft(run);
  }, 90000);

  it("bpftrace killed at start-up: the stopped command never runs, nothing left", async () => {
    const run = start(["--backend", "bpftrace", "--", ...loop]);
    let bpf: number | undefined;
    await until(() => (bpf = childNamed(run.pid, "bpftrace")) !== undefined, 30000, "bpftrace to start");
    process.kill(bpf!, "SIGKILL");
    const s = await run.done;
    expect(s.code).toBe(125);
    expect(end(run)).toMatchObject({ type: "end", exit: 125, ended: "not-started", complete: false });
    expect(run.records().some((r) => r.type === "syscall")).toBe(false);
    await nothingLeft(run);
  }, 60000);
});

// A launcher that stops itself only after trace-run gave up waiting (a machine too loaded to start perl
// in 5 s), made with a perl first on PATH that takes 7 s to start the launcher (and only the launcher):
// the command must be killed, not left to stop with no one to continue it.
describe("faults: the command does not stop for the tracer", () => {
  const slow = mkdtempSync(tmpdir() + "/trace-slow-perl-");
  beforeAll(() => {
    writeFileSync(slow + "/perl", '#!/usr/bin/perl\nselect(undef, undef, undef, 7) if ($ARGV[1] // "") =~ /kill "STOP"/;\nexec { "/usr/bin/perl" } "perl", @ARGV;\n');
    chmodSync(slow + "/perl", 0o755);
  });
  afterAll(() => { rmSync(slow, { recursive: true, force: true }); });
  for (const backend of ["bpftrace", "ebpf"]) {
    it(`${backend}: exit 125, a not-started end, and nothing left`, async () => {
      const run = start(["--backend", backend, "--", "sh", "-c", "echo ran"], { PATH: `${slow}:${process.env.PATH ?? "/usr/bin:/bin"}` });
      await run.exited;
      await nothingLeft(run);
      const s = await run.done;
      expect(s.code).toBe(125);
      expect(run.stderr()).toBe("trace-run: the command did not stop for the tracer within 5 s\n");
      expect(run.records().map((r) => r.type)).toEqual(["run", "end"]);
      expect(end(run)).toMatchObject({ exit: 125, ended: "not-started", complete: false, incomplete: ["the command did not stop for the tracer within 5 s"] });
    }, 60000);
  }
});

describe("faults: trace-run itself is killed (kill -9)", () => {
  for (const backend of ["strace", "bpftrace"]) {
    it(`${backend}, mid-run: the tree, the tracer and the run's files and cgroups go`, async () => {
      const run = start(["--backend", backend, "--", ...loop]);
      await until(has(run, execOf("cat")), 60000, "the loop to run");
      process.kill(run.pid, "SIGKILL");
      await run.done;
      await nothingLeft(run);
    }, 90000);

    it(`${backend}, at start-up: nothing is left running or stopped`, async () => {
      const run = start(["--backend", backend, "--", ...loop]);
      // bpftrace: the command waits, stopped, for the probes; strace: it has just started
      await until(() => childNamed(run.pid, backend) !== undefined, 30000, `${backend} to start`);
      process.kill(run.pid, "SIGKILL");
      await run.done;
      await nothingLeft(run);
    }, 60000);
  }
});

describe("faults: writes that fail", () => {
  let small: string;
  beforeAll(() => {
    small = mkdtempSync(tmpdir() + "/trace-full-");
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "none", small]);
    return () => { spawnSync("umount", [small]); rmdirSync(small); };
  });

  for (const backend of ["strace", "bpftrace"]) {
    for (const target of ["tmpfs", "/dev/full"]) {
      it(`${backend}: --raw on a full disk (${target}) stops the run, one line, exit 125`, async () => {
        const file = target === "tmpfs" ? `${small}/raw-${backend}` : "/dev/full";
        const run = start(["--backend", backend, "--raw", file, "--", ...loop]);
        const s = await run.done;
        expect(s.code).toBe(125);
        expect(run.stderr()).toBe(`trace-run: --raw ${file}: No space left on device (the trace was stopped)\n`);
        expect(end(run)).toMatchObject({ type: "end", complete: false, incomplete: [`--raw ${file}: No space left on device`] });
        await nothingLeft(run);
        if (target === "tmpfs") spawnSync("rm", ["-f", file]);
      }, 90000);
    }

    it(`${backend}: standard output on a full disk: said, exit 125, nothing left`, async () => {
      const r = spawnSync("bash", ["-c", `exec node ${TR} --backend ${backend} -- ${loop.slice(0, 2).join(" ")} '${loop[2]}' >/dev/full`],
        { cwd: ROOT, encoding: "utf8", env: { PATH: process.env.PATH, LEASTPRIV_FAULT: "stdout-full-" + process.pid }, timeout: 60000, stdio: ["ignore", "pipe", "pipe"] });
      expect(r.status).toBe(125);
      // (the command layer says it once per failed write today: the lines are all this one)
      const lines = r.stderr.trim().split("\n");
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) expect(l).toMatch(/^trace-run: (.* \()?standard output\)?: .*(ENOSPC|No space left on device)/);   // "FILE (standard output): …"
      const fake: Run = { pid: r.pid!, mark: "stdout-full-" + process.pid } as Run;
      await nothingLeft(fake);
    }, 90000);
  }

  it("--stdout on /dev/full: the command's own write fails, and its status is passed on", () => {
    const r = spawnSync(process.execPath, [TR, "--stdout", "/dev/full", "--", "ls", "/"], { cwd: ROOT, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^ls: write error: No space left on device/);
    const recs = r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    expect(recs.at(-1)).toMatchObject({ type: "end", exit: 2, ended: "exited", complete: true });
  });

  it("--stdout or --raw that cannot be opened: one line, exit 125, no stream begun", () => {
    for (const opt of ["--stdout", "--raw"]) {
      const r = spawnSync(process.execPath, [TR, opt, tmpdir(), "--", "true"], { cwd: ROOT, encoding: "utf8" });
      expect(r.status).toBe(125);
      expect(r.stderr).toBe(`trace-run: ${opt} ${tmpdir()}: Is a directory\n`);
      expect(r.stdout).toBe("");
    }
  });
});

describe("faults: | head under strace", () => {
  it("the tracees end before strace: no call of theirs fails for want of a tracer", () => {
    for (let i = 0; i < 5; i++) {
      const r = spawnSync("bash", ["-o", "pipefail", "-c", `node ${TR} --backend strace -- sh -c 'trap "" TERM; for i in $(seq 200); do ls -R /usr/share/doc >/dev/null; done' | head -n 50 >/dev/null`],
        { cwd: ROOT, encoding: "utf8", timeout: 60000, stdio: ["ignore", "pipe", "pipe"] });
      expect(r.status).toBe(0);
      expect(r.stderr).toBe("");
    }
  }, 120000);
});

describe("faults: -p, nested tracers, leftovers of dead runs", () => {
  it("-p then SIGINT: the process was let go (ended: detached), not killed", async () => {
    const target = spawn("sh", ["-c", "while :; do cat /etc/hostname >/dev/null; sleep 0.05; done"], { stdio: "ignore" });
    try {
      const run = start(["--backend", "strace", "-p", String(target.pid)]);
      await until(has(run, execOf("cat")), 30000, "a call of the attached process");
      process.kill(run.pid, "SIGINT");
      const s = await run.done;
      expect(s.code).toBe(0);
      const e = end(run);
      expect(e).toMatchObject({ type: "end", ended: "detached", complete: true });
      expect(e.signal).toBeUndefined();
      expect(e.exit).toBeUndefined();
      expect(stat(String(target.pid))?.state).not.toBe("Z");
    } finally { target.kill("SIGKILL"); }
  }, 60000);

  it("a tracer inside the trace is refused ptrace: trace-run says why and what to use", () => {
    const r = spawnSync(process.execPath, [TR, "--backend", "strace", "--", "strace", "-o", "/dev/null", "true"], { cwd: ROOT, encoding: "utf8" });
    expect(r.stderr).toContain("trace-run: a traced program was refused ptrace (EPERM): a process under strace cannot trace another");
    expect(r.stderr).toContain("--backend bpftrace");
  });

  it("a run's start removes the temp dirs and empty cgroups of dead runs, never a live run's", () => {
    const dead = spawnSync("true").pid!;        // a pid that is gone
    const mine = process.pid;                    // a live one (this test)
    const made = [`${tmpdir()}/trace-run-${dead}-AbC123`, `${tmpdir()}/trace-run-${mine}-AbC123`];
    const root = cgroupRoots()[0];
    const cgs = root ? [`${root}/leastpriv-${dead}-1`, `${root}/leastpriv-${mine}-1`] : [];
    for (const d of [...made, ...cgs]) mkdirSync(d);
    try {
      const r = spawnSync(process.execPath, [TR, "--", "true"], { cwd: ROOT, encoding: "utf8" });
      expect(r.status).toBe(0);
      expect(made.map(existsSync)).toEqual([false, true]);
      expect(cgs.map(existsSync)).toEqual(cgs.length ? [false, true] : []);
    } finally {
      for (const d of [...made, ...cgs]) if (existsSync(d)) rmdirSync(d);
    }
  });
});
