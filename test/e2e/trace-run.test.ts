// trace-run with the real strace: exit statuses, users, attach, signals, pipes.
import { describe, expect, it } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { ROOT, run } from "../helpers.js";

const TR = ROOT + "dist/commands/trace-run.js";
const alive = (marker: string) => spawnSync("pgrep", ["-f", marker]).status === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until `ok()` holds (polling), so that a loaded machine only makes the test slower, not wrong. */
async function waitFor(ok: () => boolean, ms = 15000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await sleep(50);
  }
}

describe("trace-run", () => {

  it("a multi-process shell pipeline: run header, live records, end footer, status passed on", () => {
    const r = run("trace-run", ["--backend", "strace", "--", "sh", "-c", "cat /etc/hostname | wc -c; exit 3"]);
    expect(r.status).toBe(3);
    const recs = r.records();
    expect(recs[0]).toMatchObject({ type: "run", tracer: "strace", argv: ["sh", "-c", "cat /etc/hostname | wc -c; exit 3"], cwd: ROOT.replace(/\/$/, ""), uid: process.getuid!() });
    expect(recs[0].flags).toContain("--seccomp-bpf");
    expect(recs.at(-1)).toMatchObject({ type: "end", exit: 3, unparsed: 0 });
    const sys = recs.filter((x) => x.type === "syscall");
    expect(new Set(sys.map((x) => x.pid)).size).toBeGreaterThanOrEqual(3);
    expect(sys.filter((x) => x.kind === "exec" && x.ok).map((x) => x.path)).toEqual(expect.arrayContaining(["/usr/bin/sh", "/usr/bin/cat", "/usr/bin/wc"]));
    expect(sys.some((x) => x.syscall === "openat" && x.path === "/etc/hostname" && x.op === "read")).toBe(true);
    // the command's stdout went to stderr, never into the records
    expect(r.stderr.trim()).toMatch(/^\d+$/);
  });

  it("--stdout FILE and --raw FILE", () => {
    const dir = execFileSync("mktemp", ["-d"]).toString().trim();
    const r = run("trace-run", ["--backend", "strace", "--stdout", dir + "/out", "--raw", dir + "/raw", "--", "echo", "hello"]);
    expect(r.status).toBe(0);
    expect(execFileSync("cat", [dir + "/out"]).toString()).toBe("hello\n");
    expect(execFileSync("cat", [dir + "/raw"]).toString()).toMatch(/execve\("\/usr\/bin\/echo"/);
    expect(r.stderr).toBe("");
  });

  it("a command killed by a signal: 128+N", () => {
    const r = run("trace-run", ["--", "sh", "-c", "kill -SEGV $$"]);
    expect(r.status).toBe(139);
    const recs = r.records();
    // the shell itself, the first process, is the one killed
    expect(recs.find((x) => x.type === "exit" && x.signal === "SIGSEGV")).toMatchObject({ pid: recs.find((x) => x.type === "syscall").pid });
    expect(recs.at(-1)).toMatchObject({ type: "end", exit: 139 });
  });

  it("127 not found, 126 not executable, 2 for no command, 125 when strace is missing", () => {
    expect(run("trace-run", ["--", "no-such-command-here"])).toMatchObject({ status: 127, stderr: "trace-run: no-such-command-here: command not found\n" });
    const dir = execFileSync("mktemp", ["-d"]).toString().trim();
    writeFileSync(dir + "/data.txt", "not a program\n", { mode: 0o644 });
    expect(run("trace-run", ["--", dir + "/data.txt"])).toMatchObject({ status: 126, stderr: `trace-run: ${dir}/data.txt: Permission denied\n` });
    expect(run("trace-run", []).status).toBe(2);
    const s = run("trace-run", ["--backend", "strace", "--strace", "/nonexistent/strace", "--", "true"]);
    expect(s.status).toBe(125);
    expect(s.stderr).toMatch(/^trace-run: \/nonexistent\/strace is not installed \(Debian\/Ubuntu: apt-get install strace/);
  });

  it("the command gets trace-run's environment as it is, with or without --cost", () => {
    // run() passes exactly PATH, TERM, TZ and LANG; env prints what it got (on our stderr)
    const want = ["LANG=C", `PATH=${process.env.PATH}`, "TERM=dumb", "TZ=UTC"];
    for (const args of [["--"], ["--backend", "strace", "--"], ["--cost", "--"], ["--backend", "bpftrace", "--"]]) {
      const r = run("trace-run", [...args, "/usr/bin/env"]);
      expect(r.status, args.join(" ")).toBe(0);
      expect(r.stderr.split("\n").filter(Boolean).sort(), args.join(" ")).toEqual(want);
    }
  });

  it("--user nobody shows EACCES on a root-only file", () => {
    const r = run("trace-run", ["--user", "nobody", "--", "cat", "/etc/shadow"]);
    expect(r.status).toBe(1);
    const denied = r.records().find((x) => x.type === "syscall" && x.path === "/etc/shadow");
    expect(denied).toMatchObject({ op: "read", ok: false, errno: "EACCES" });
    expect(r.records()[0].user).toBe("nobody");
  });

  it("-p attaches to a running process; SIGINT detaches and leaves it running", async () => {
    const marker = "trace-run-attach-" + process.pid;
    const target = spawn("sh", ["-c", `while :; do cat /etc/hostname >/dev/null; sleep 0.05; done # ${marker}`], { stdio: "ignore" });
    await sleep(200);
    const tr = spawn(process.execPath, [TR, "--backend", "strace", "-p", String(target.pid)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    tr.stdout.on("data", (d) => (out += d));
    await waitFor(() => out.includes('"path":"/etc/hostname"'));
    tr.kill("SIGINT");
    const code = await new Promise((r) => tr.on("close", r));
    const recs = out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    expect(recs[0]).toMatchObject({ type: "run", pids: [target.pid] });
    expect(recs.some((x) => x.type === "syscall" && x.path === "/etc/hostname")).toBe(true);
    expect(recs.at(-1).type).toBe("end");
    expect(typeof code).toBe("number");
    expect(alive(marker)).toBe(true);          // detached, not killed
    target.kill("SIGKILL");
  });

  it("SIGINT mid-run: records so far are flushed, exit 130, nothing left running", async () => {
    const marker = "trace-run-sigint-" + process.pid;
    const tr = spawn(process.execPath, [TR, "--", "sh", "-c", `sleep 30 & sleep 30; wait # ${marker}`], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    tr.stdout.on("data", (d) => (out += d));
    await waitFor(() => out.includes('"path":"/usr/bin/sleep"'));
    await sleep(300);
    expect(alive(marker)).toBe(true);
    tr.kill("SIGINT");
    const code = await new Promise((r) => tr.on("close", r));
    expect(code).toBe(130);
    const recs = out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    expect(recs.some((x) => x.syscall === "execve" && x.path === "/usr/bin/sleep")).toBe(true);
    expect(recs.at(-1)).toMatchObject({ type: "end", exit: 130 });
    await waitFor(() => !alive(marker), 5000);
    expect(spawnSync("pgrep", ["-x", "-f", "sleep 30"]).status).toBe(1);
  });

  it("| head -n1 ends it cleanly and stops the traced program", () => {
    const marker = "trace-run-head-" + process.pid;
    const r = spawnSync("bash", ["-o", "pipefail", "-c", `node ${TR} -- sh -c 'while :; do cat /etc/hostname >/dev/null; done # ${marker}' | head -n1`], { timeout: 20000 });
    expect(r.status).toBe(0);
    expect(r.stderr.toString()).toBe("");
    expect(JSON.parse(r.stdout.toString()).type).toBe("run");
    expect(alive(marker)).toBe(false);
  });
});
