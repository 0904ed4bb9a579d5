// trace-run --backend auto, the default: the first of ebpf, bpftrace and strace that traces the target,
// takes every option given and can run here; the run record names the backend that ran, that auto chose
// it, and why each one before it was passed over. As root, as nobody, as root that may not load BPF
// programs, and in a copy of the built tree without the eBPF loader (the real one stays: other tests
// use it meanwhile).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { spawn, spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { ROOT, run } from "../helpers.js";
import { LOADER, PASSED } from "../../lib/bpf/start.js";

const tmp = mkdtempSync(tmpdir() + "/trace-auto-");
const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "dumb", TZ: "UTC", LANG: "C" };
const records = (out: string) => out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
const hostname = (recs: any[]) => recs.find((x) => x.type === "syscall" && x.syscall === "openat" && x.path === "/etc/hostname");

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("trace-run --backend auto", () => {
  it("as root it runs the eBPF loader; the run record says what was asked and what ran", () => {
    const r = run("trace-run", ["--", "cat", "/etc/hostname"]);
    expect(r.status, r.stderr).toBe(0);
    const recs = r.records();
    expect(recs[0]).toMatchObject({ type: "run", tracer: "ebpf", backend: "auto", tracerVersion: expect.stringMatching(/frame format/) });
    expect(recs[0].skipped).toBeUndefined();                  // nothing was passed over
    expect(hostname(recs)).toMatchObject({ op: "read", ok: true });
    expect(recs.at(-1)).toMatchObject({ type: "end", exit: 0, complete: true });
    // a quiet success: nothing on stderr but the command's own output
    expect(r.stderr).toBe(readFileSync("/etc/hostname", "utf8"));
    // a backend asked by name is named so
    expect(run("trace-run", ["--backend", "strace", "--", "true"]).records()[0]).toMatchObject({ tracer: "strace", backend: "strace" });
  }, 60000);

  it("options only strace takes choose strace, and the record says why the others were passed over", () => {
    for (const [opt, flag] of [[["--cost"], "--cost"], [["--all-syscalls"], "--all-syscalls"], [["--strace-arg=-v"], "--strace-arg"]]) {
      const r = run("trace-run", [...opt, "--", "cat", "/etc/hostname"]);
      expect(r.status, r.stderr).toBe(0);
      const recs = r.records();
      expect(recs[0], flag).toMatchObject({ tracer: "strace", backend: "auto", skipped: { ebpf: `it does not take ${flag}`, bpftrace: `it does not take ${flag}` } });
      expect(hostname(recs), flag).toMatchObject({ ok: true });
    }
  }, 60000);

  it("-p chooses strace: it attaches to the process until it ends", async () => {
    const target = spawn("sh", ["-c", "read x; cat /etc/hostname > /dev/null"], { stdio: ["pipe", "ignore", "ignore"] });
    const tr = spawn(process.execPath, [ROOT + "dist/commands/trace-run.js", "-p", String(target.pid)], { stdio: ["ignore", "pipe", "pipe"], env: ENV });
    let out = "";
    tr.stdout.on("data", (d) => (out += d));
    // once strace has attached (the kernel names its tracer), the process may go on
    const traced = () => Number(/^TracerPid:\s*(\d+)/m.exec(readFileSync(`/proc/${target.pid}/status`, "utf8"))?.[1] ?? 0) > 0;
    for (let i = 0; i < 600 && !traced(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(traced()).toBe(true);
    target.stdin!.end("go\n");
    const code = await new Promise((r) => tr.on("close", r));
    expect(code).toBe(0);
    const recs = records(out);
    expect(recs[0]).toMatchObject({ tracer: "strace", backend: "auto", pids: [target.pid], skipped: { ebpf: "it does not take -p", bpftrace: "it does not take -p" } });
    expect(hostname(recs)).toMatchObject({ ok: true });
  }, 60000);

  it("--raw, which every backend takes, leaves the choice alone: the loader's frames, which trace-parse reads", () => {
    const raw = tmp + "/raw.out";
    const r = run("trace-run", ["--raw", raw, "--", "cat", "/etc/hostname"]);
    expect(r.status, r.stderr).toBe(0);
    const head = r.records()[0];
    expect(head).toMatchObject({ tracer: "ebpf", backend: "auto" });
    expect(head.skipped).toBeUndefined();
    expect(statSync(raw).size).toBeGreaterThan(0);
    // what was kept is what trace-parse reads: the same call
    expect(hostname(run("trace-parse", [raw]).records())).toMatchObject({ ok: true });
  }, 90000);

  it("options that no one backend takes are a usage error; so is an option the backend asked does not take", () => {
    const both = run("trace-run", ["--container", "x", "--cost"]);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/^trace-run: no backend takes --container and --cost together \(--container: ebpf or bpftrace; --cost: strace\)\n/);
    const named = run("trace-run", ["--backend", "strace", "--container", "x"]);
    expect(named.status).toBe(2);
    expect(named.stderr).toMatch(/^trace-run: --container needs --backend ebpf or bpftrace \(with strace, attach to a process with -p\)\n/);
  });

  it("not root: strace, with why not the others; --container, which only root's backends do, fails saying why each cannot", () => {
    const asNobody = (args: string[]) => spawnSync("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, ROOT + "dist/commands/trace-run.js", ...args],
      { cwd: "/tmp", encoding: "utf8", env: ENV });
    const r = asNobody(["--", "cat", "/etc/hostname"]);
    expect(r.status, r.stderr).toBe(0);
    const recs = records(r.stdout);
    expect(recs[0]).toMatchObject({ tracer: "strace", backend: "auto", uid: Number(spawnSync("id", ["-u", "nobody"], { encoding: "utf8" }).stdout) });
    expect(recs[0].skipped).toEqual({
      ebpf: expect.stringMatching(/^the ebpf backend needs root/),
      bpftrace: expect.stringMatching(/^the bpftrace backend needs root/),
    });
    expect(hostname(recs)).toMatchObject({ ok: true });
    expect(r.stderr).toBe(readFileSync("/etc/hostname", "utf8"));
    const c = asNobody(["--container", "x"]);
    expect(c.status).toBe(125);
    expect(c.stdout).toBe("");
    expect(c.stderr).toMatch(/^trace-run: no backend that takes --container can run here \(ebpf: the ebpf backend needs root [^;]*; bpftrace: the bpftrace backend needs root [^;]*\)\n$/);
  }, 60000);

  describe("as root without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (as in a container)", () => {
    const DROP = ["--bounding-set", "-bpf,-sys_admin,-perfmon", "--"];
    const dropped = (args: string[]) => {
      const r = spawnSync("setpriv", [...DROP, process.execPath, ROOT + "dist/commands/trace-run.js", ...args], { cwd: ROOT, encoding: "utf8", env: ENV, maxBuffer: 1 << 26 });
      return { ...r, records: () => records(r.stdout) };
    };
    const REFUSED = "the kernel lets this process load no BPF program (Operation not permitted): it needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN";
    // that this is so here: the kernel refuses the loader so dropped, and bpftrace too
    beforeAll(() => {
      expect(spawnSync("setpriv", [...DROP, LOADER, "--check"], { encoding: "utf8" }).status).toBe(4);
      expect(spawnSync("setpriv", [...DROP, "bpftrace", "-e", "BEGIN { exit(); }"], { encoding: "utf8" }).status).not.toBe(0);
    });

    it("auto runs strace, the run record saying why ebpf and bpftrace were passed over; the trace whole, the status passed on", () => {
      const r = dropped(["--", "sh", "-c", "cat /etc/hostname; exit 3"]);
      expect(r.status, r.stderr).toBe(3);
      const recs = r.records();
      expect(recs[0]).toMatchObject({ tracer: "strace", backend: "auto", uid: 0 });
      expect(recs[0].skipped).toEqual({
        ebpf: `the eBPF loader cannot load its program here: ${REFUSED}`,
        bpftrace: `bpftrace cannot load its programs here either (as the eBPF loader's check found): ${REFUSED}`,
      });
      expect(recs.find((x) => x.type === "syscall" && x.syscall === "execve" && x.ok)).toMatchObject({ argv: ["sh", "-c", "cat /etc/hostname; exit 3"] });
      expect(hostname(recs)).toMatchObject({ op: "read", ok: true });
      expect(recs.at(-1)).toMatchObject({ type: "end", exit: 3, ended: "exited", complete: true });
      expect(r.stderr).toBe(readFileSync("/etc/hostname", "utf8"));       // said nowhere but in the record
    }, 60000);

    it("a check passed is made once a boot, and answers for no process that may do less: root without CAP_BPF is checked again", () => {
      // the loader's checks a trace-run made, as a trace-run of it saw them start (the outer one asks
      // for another ring, so that its own check, made first, is not the inner one's)
      const checks = (prefix: string[]) => {
        const inner = ["env", "-u", "LEASTPRIV_EBPF_RING_MB", ...prefix, process.execPath, ROOT + "dist/commands/trace-run.js", "--backend", "ebpf", "--", "true"];
        const r = run("trace-run", ["--backend", "ebpf", "--", ...inner], undefined, { LEASTPRIV_EBPF_RING_MB: "2" });
        const n = r.records().filter((x) => x.type === "syscall" && x.syscall === "execve" && x.ok && x.path === LOADER && x.argv?.[1] === "--check").length;
        return { status: r.status, n };
      };
      rmSync(PASSED, { force: true });
      expect(checks([])).toEqual({ status: 0, n: 1 });
      expect(checks([])).toEqual({ status: 0, n: 0 });
      expect(checks(["setpriv", ...DROP])).toEqual({ status: 125, n: 1 });
      expect(checks([])).toEqual({ status: 0, n: 0 });
    }, 60000);

    it("--backend ebpf, and --backend bpftrace, fail before anything runs: exit 125, one line saying why", () => {
      const e = dropped(["--backend", "ebpf", "--", "true"]);
      expect(e.status).toBe(125);
      expect(e.stdout).toBe("");
      expect(e.stderr).toBe(`trace-run: the eBPF loader cannot load its program here: ${REFUSED}\n`);
      const b = dropped(["--backend", "bpftrace", "--", "true"]);
      expect(b.status).toBe(125);
      expect(b.stdout).toBe("");
      expect(b.stderr).toBe(`trace-run: bpftrace cannot load its programs here either (as the eBPF loader's check found): ${REFUSED}\n`);
    }, 60000);
  });

  describe("in a built tree without the eBPF loader", () => {
    const copy = tmp + "/tree";
    beforeAll(() => {
      // the built tree as npm run build left it, less the loader; the same modules and package.json
      cpSync(ROOT + "dist", copy + "/dist", { recursive: true });
      rmSync(copy + "/dist/leastpriv-bpf");
      rmSync(copy + "/dist/bpf/unavailable", { force: true });
      writeFileSync(copy + "/package.json", readFileSync(ROOT + "package.json"));
      symlinkSync(ROOT + "node_modules", copy + "/node_modules");
    });
    const inCopy = (args: string[]) => {
      const r = spawnSync(process.execPath, [copy + "/dist/commands/trace-run.js", ...args], { cwd: ROOT, encoding: "utf8", env: ENV, maxBuffer: 1 << 26 });
      return { ...r, records: () => records(r.stdout) };
    };

    it("auto falls back to bpftrace, and without bpftrace to strace; --backend ebpf says what to do", () => {
      const b = inCopy(["--", "cat", "/etc/hostname"]);
      expect(b.status, b.stderr).toBe(0);
      const recs = b.records();
      expect(recs[0]).toMatchObject({ tracer: "bpftrace", backend: "auto", skipped: { ebpf: `the eBPF backend was not built (${copy}/dist/leastpriv-bpf is missing): run npm run build` } });
      expect(Object.keys(recs[0].skipped)).toEqual(["ebpf"]);
      expect(hostname(recs)).toMatchObject({ ok: true });
      expect(b.stderr).toBe(readFileSync("/etc/hostname", "utf8"));       // said nowhere but in the record

      const s = inCopy(["--bpftrace", "/nonexistent/bpftrace", "--", "cat", "/etc/hostname"]);
      expect(s.status, s.stderr).toBe(0);
      expect(s.records()[0]).toMatchObject({ tracer: "strace", backend: "auto",
        skipped: { ebpf: expect.stringMatching(/^the eBPF backend was not built/), bpftrace: expect.stringMatching(/^\/nonexistent\/bpftrace is not installed/) } });

      const e = inCopy(["--backend", "ebpf", "--", "true"]);
      expect(e.status).toBe(125);
      expect(e.stderr).toBe(`trace-run: the eBPF backend was not built (${copy}/dist/leastpriv-bpf is missing): run npm run build\n`);
    }, 120000);
  });
});
