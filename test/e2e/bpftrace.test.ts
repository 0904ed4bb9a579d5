// The bpftrace backend for real: bpftrace 0.17 with tracefs mounted (.ci/run installs and mounts them),
// as root; containers from dockerd (started by .ci/run) and podman, the local test images, in the cases
// both kernel-side backends share (test/container-cases.ts).
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run } from "../helpers.js";
import { containerCases } from "../container-cases.js";
import type { SyscallRecord } from "../../lib/io/records.js";

const tmp = mkdtempSync(tmpdir() + "/trace-bpf-");
const calls = (recs: any[]): SyscallRecord[] => recs.filter((x) => x.type === "syscall");

// calls whose path is an argument (not an fd): both backends see the same names for these
const PATH_ARG = new Set(["open", "openat", "creat", "stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2",
  "readlink", "readlinkat", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "chdir",
  "execve", "chmod", "fchmodat", "statfs", "symlink", "symlinkat", "link", "linkat"]);
const named = (recs: any[]) => new Set(calls(recs)
  .filter((r) => PATH_ARG.has(r.syscall) && r.path !== undefined && !(r.syscall === "newfstatat" && r.args[1] === ""))
  .map((r) => `${r.syscall} ${r.path}${r.path2 ? " " + r.path2 : ""} ${r.ok}`));

describe("trace-run --backend bpftrace", () => {
  beforeAll(() => {
    writeFileSync(tmp + "/in.txt", "hi\n");
    writeFileSync(tmp + "/work.sh", [
      "cd \"$(dirname \"$0\")\"",
      "cat in.txt /etc/hostname > out.txt",
      "mkdir -p d; cd d; ls .. > /dev/null; mv ../out.txt moved.txt; rm moved.txt; cd ..; rmdir d",
      "/usr/bin/python3 -c 'import os; os.stat(\"/etc/passwd\")'",
      "(sleep 0.3; cat /etc/hostname > /dev/null) &",
      "exit 3",
    ].join("\n") + "\n");
  }, 120000);
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it("a process tree: its execs, files and exits, the command's status, a child that outlives it", () => {
    const r = run("trace-run", ["--backend", "bpftrace", "--", "sh", tmp + "/work.sh"], undefined, { HOME: tmp });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(3);
    const recs = r.records();
    expect(recs[0]).toMatchObject({ type: "run", tracer: "bpftrace", argv: ["sh", tmp + "/work.sh"] });
    const end = recs.at(-1);
    expect(end).toMatchObject({ type: "end", exit: 3, unparsed: 0, lost: 0 });
    const c = calls(recs);
    // the command itself is the first call, as the program found on PATH, with argv as given
    expect(c[0]).toMatchObject({ syscall: "execve", ok: true, path: "/usr/bin/sh", argv: ["sh", tmp + "/work.sh"] });
    const p = (s: string) => tmp + s;
    expect(c.find((x) => x.syscall === "openat" && x.path === p("/in.txt"))).toMatchObject({ op: "read", ok: true });
    expect(c.find((x) => x.path === p("/out.txt") && x.op === "create")).toMatchObject({ syscall: "openat", kind: "file", ok: true });
    expect(c.find((x) => x.op === "rename")).toMatchObject({ path: p("/out.txt"), path2: p("/d/moved.txt"), ok: true });
    expect(c.find((x) => x.syscall === "newfstatat" && x.path === "/etc/passwd")).toMatchObject({ ok: true });
    // the background cat ran after sh exited, and was still followed
    const cats = c.filter((x) => x.syscall === "execve" && x.path === "/usr/bin/cat" && x.ok);
    expect(cats.map((x) => x.argv)).toEqual([["cat", "in.txt", "/etc/hostname"], ["cat", "/etc/hostname"]]);
    const shExit = recs.find((x) => x.type === "exit" && x.pid === c[0].pid);
    const lastCat = recs.filter((x) => x.type === "exit" && x.pid === cats[1].pid)[0];
    expect(shExit.code).toBe(3);
    expect(lastCat.time).toBeGreaterThan(shExit.time);
    expect(end.cost).toMatchObject({ processes: expect.any(Number) });
    expect(end.cost.cpuUser).toBeGreaterThanOrEqual(0);
  }, 60000);

  it("agrees with strace on the files named and the programs run; the differences are the inherent ones", () => {
    const s = run("trace-run", ["--backend", "strace", "--", "sh", tmp + "/work.sh"]).records();
    const b = run("trace-run", ["--backend", "bpftrace", "--", "sh", tmp + "/work.sh"]).records();
    // programs run, with their argv, in order
    const execs = (recs: any[]) => calls(recs).filter((x) => x.kind === "exec" && x.ok).map((x) => x.argv);
    expect(execs(b)).toEqual(execs(s));
    // every path-argument call's path and result (the pids and times differ from run to run)
    const [ns, nb] = [named(s), named(b)];
    expect([...nb].filter((x) => !ns.has(x))).toEqual([]);
    expect([...ns].filter((x) => !nb.has(x))).toEqual([]);
    // inherent: strace -yy names an fd by the kernel's path for it (symbolic links resolved, and inherited
    // fds such as the terminal), where the bpftrace backend keeps the name the fd was opened by
    const byFd = (x: SyscallRecord) => !PATH_ARG.has(x.syscall) || (x.syscall === "newfstatat" && x.args[1] === "");
    const fdPaths = (recs: any[]) => new Set(calls(recs).filter((x) => x.kind === "file" && byFd(x) && x.path).map((x) => x.path));
    const onlyStrace = [...fdPaths(s)].filter((x) => !fdPaths(b).has(x));
    expect(onlyStrace).toContain("/usr/lib/x86_64-linux-gnu/libc.so.6");
    expect([...fdPaths(b)]).toContain("/lib/x86_64-linux-gnu/libc.so.6");
  }, 60000);

  it("profiles of one job made with each backend diff clean both ways: keyed on the files, not the links named", () => {
    const prof = (backend: string) => {
      const ev = run("trace-run", ["--backend", backend, "--", "sh", tmp + "/work.sh"]).stdout;
      writeFileSync(`${tmp}/${backend}.profile`, run("trace-summarize", [], ev).stdout);
      return `${tmp}/${backend}.profile`;
    };
    const [s, b] = [prof("strace"), prof("bpftrace")];
    for (const [x, y] of [[s, b], [b, s]]) {
      const d = run("trace-diff", ["--strict", "--format", "text", x, y]);
      expect(d.stdout).toBe("0 differences, 0 failing\n");
      expect(d.status).toBe(0);
    }
    // merged /usr: the library is its file under /usr/lib, with the names it was opened by beside it
    const libc = run("trace-filter", ["--path", "/usr/lib/x86_64-linux-gnu/libc.so.6"], readFileSync(b, "utf8")).records().filter((x) => x.type === "summary");
    expect(libc).toEqual([expect.objectContaining({ kind: "file", names: ["/lib/x86_64-linux-gnu/libc.so.6"], okOps: ["read"] })]);
  }, 60000);

  it("argv: every argument up to 32, and argvTruncated only when there were more", () => {
    const argv = (n: number) => {
      const r = run("trace-run", ["--backend", "bpftrace", "--", "/bin/echo", ...Array.from({ length: n }, (_, i) => String(i))]);
      return calls(r.records()).find((x) => x.syscall === "execve")!;
    };
    const twenty = argv(20);
    expect(twenty.argv).toHaveLength(21);
    expect(twenty.argvTruncated).toBeUndefined();
    const forty = argv(40);
    expect(forty.argv).toHaveLength(32);
    expect(forty.argvTruncated).toBe(true);
  }, 60000);

  it("--user: what the command is denied as another user", () => {
    const r = run("trace-run", ["--backend", "bpftrace", "--user", "nobody", "--", "cat", "/etc/shadow"]);
    expect(r.status).toBe(1);
    const recs = r.records();
    expect(recs[0]).toMatchObject({ user: "nobody" });
    expect(calls(recs)[0]).toMatchObject({ syscall: "execve", path: "/usr/bin/cat" });
    expect(calls(recs).find((x) => x.path === "/etc/shadow")).toMatchObject({ ok: false, errno: "EACCES" });
  }, 60000);

  it("--raw keeps bpftrace's lines; trace-parse reads them back into the same records", () => {
    const r = run("trace-run", ["--backend", "bpftrace", "--raw", tmp + "/raw.out", "--", "sh", "-c", "cd /etc && cat hostname >/dev/null"]);
    expect(r.status).toBe(0);
    const live = calls(r.records());
    const p = run("trace-parse", [tmp + "/raw.out"]);
    expect(p.status).toBe(0);
    const parsed = p.records();
    expect(parsed[0]).toMatchObject({ type: "run", tracer: "bpftrace" });
    expect(calls(parsed)).toEqual(live);
    expect(live.find((x) => x.path === "/etc/hostname")).toMatchObject({ op: "read", ok: true, args: ["AT_FDCWD", "hostname", "O_RDONLY"] });
  }, 60000);

  containerCases("bpftrace");

  it("mounts tracefs itself when it is not mounted", () => {
    // in a mount namespace of its own, where tracefs is unmounted first (the host's stays)
    const r = spawnSync("unshare", ["-m", "sh", "-c", "umount /sys/kernel/tracing && ! [ -d /sys/kernel/tracing/events/raw_syscalls ] && " +
      `${process.execPath} ${ROOT}dist/commands/trace-run.js --backend bpftrace -- cat /etc/hostname && [ -d /sys/kernel/tracing/events/raw_syscalls ]`], { encoding: "utf8", maxBuffer: 1 << 26 });
    expect(r.status).toBe(0);
    const recs = r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    expect(recs.find((x) => x.type === "syscall" && x.syscall === "openat" && x.path === "/etc/hostname")).toMatchObject({ ok: true, op: "read" });
  }, 30000);

  it("clear errors: not root, no bpftrace, tracefs that cannot be mounted, options of the other backend", () => {
    const nobody = spawnSync("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, ROOT + "dist/commands/trace-run.js", "--backend", "bpftrace", "--", "true"], { encoding: "utf8" });
    expect(nobody.status).toBe(125);
    expect(nobody.stderr).toMatch(/^trace-run: the bpftrace backend needs root/);
    const missing = run("trace-run", ["--backend", "bpftrace", "--bpftrace", "/nonexistent/bpftrace", "--", "true"]);
    expect(missing.status).toBe(125);
    expect(missing.stderr).toMatch(/^trace-run: \/nonexistent\/bpftrace is not installed \(Debian\/Ubuntu: apt-get install bpftrace/);
    // in a mount namespace of its own, /sys/kernel hidden under an empty read-only tmpfs: tracefs is
    // not there and cannot be mounted (the host's mounts are untouched)
    const noTracefs = spawnSync("unshare", ["-m", "sh", "-c", `mount -t tmpfs -o ro none /sys/kernel && exec ${process.execPath} ${ROOT}dist/commands/trace-run.js --backend bpftrace -- true`], { encoding: "utf8" });
    expect(noTracefs.status).toBe(125);
    expect(noTracefs.stderr).toBe("trace-run: tracefs is not mounted at /sys/kernel/tracing and mounting it failed (mount: /sys/kernel/tracing: mount point does not exist.): " +
      "run 'mount -t tracefs nodev /sys/kernel/tracing' as root, on a kernel with syscall tracepoints (CONFIG_FTRACE_SYSCALLS)\n");
    const p = run("trace-run", ["--backend", "bpftrace", "-p", "1"]);
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(/--pid is for the strace backend/);
    const cost = run("trace-run", ["--backend", "bpftrace", "--cost", "--", "true"]);
    expect(cost.status).toBe(2);
    expect(cost.stderr).toMatch(/--cost counts bytes/);
    const c = run("trace-run", ["--backend", "strace", "--container", "x"]);
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/--container needs --backend ebpf or bpftrace/);
  }, 60000);

  it("| head: ends quietly, leaving nothing running", () => {
    // this trace-run's pid names its program's directory: other tests' bpftrace may run meanwhile
    const r = spawnSync("bash", ["-c", `{ node ${ROOT}dist/commands/trace-run.js --backend bpftrace -- sh -c 'for i in 1 2 3 4 5 6 7 8; do cat /etc/hostname; done >/dev/null; sleep 2' & echo $! >${tmp}/head.pid; wait; } | head -n 3`], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")).toHaveLength(3);
    const pid = readFileSync(tmp + "/head.pid", "utf8").trim();
    expect(pid).toMatch(/^\d+$/);
    const left = spawnSync("pgrep", ["-f", `/trace-run-${pid}-.*/leastpriv\\.bt`], { encoding: "utf8" });
    expect(left.stdout.trim()).toBe("");
  }, 60000);
  // the server runs apart from the trace (its listen and accept would make the verdict say yes alone)
  it.each(["strace", "bpftrace"])("a non-blocking connect under %s is under way, not failed: the verdict says the program talked", async (backend) => {
    const server = spawn("/usr/bin/python3", ["-c", [
      "import socket, sys",
      "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)",
      "print(s.getsockname()[1], flush=True)",
      "c, _ = s.accept(); n = 0",
      "while True:",
      "    b = c.recv(65536)",
      "    if not b: break",
      "    n += len(b)",
      "print(n, flush=True)",
    ].join("\n")], { stdio: ["ignore", "pipe", "inherit"] });
    let said = "";
    const lines = new Promise<string[]>((resolve) => server.stdout!.on("data", (d) => {
      said += d;
      if (said.split("\n").length > 2) resolve(said.trim().split("\n"));
    }));
    const port = await new Promise<string>((resolve) => server.stdout!.once("data", (d) => resolve(String(d).trim())));
    const client = [
      "import socket, select, sys",
      "s = socket.socket(); s.setblocking(False)",
      `e = s.connect_ex(('127.0.0.1', ${port}))`,
      "assert e == 115, e",
      "select.select([], [s], [], 10)",
      "s.setblocking(True); s.sendall(b'x' * 1200); s.close()",
    ].join("\n");
    const r = run("trace-run", ["--backend", backend, "--", "/usr/bin/python3", "-c", client]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect((await lines)[1]).toBe("1200");
    const connect = calls(r.records()).find((x) => x.syscall === "connect" && x.addr?.port === Number(port))!;
    expect(connect).toMatchObject({ ok: true, pending: true, errno: "EINPROGRESS", errmsg: "Operation now in progress" });
    const v = run("trace-summarize", ["--format", "verdict"], r.stdout).records()[0];
    expect(v.network.talks).toBe(true);
    expect(v.network.tried).toEqual([]);
    expect(v.network.peers.find((p: any) => p.peer === `127.0.0.1:${port}`)).toMatchObject({ sent: 1200 });
    expect(v.network.connecting).toEqual([]);
    // begun to a closed port and given up: under way, not talking, not a failure seen
    const gaveUp = run("trace-run", ["--backend", backend, "--", "/usr/bin/python3", "-c",
      "import socket, select\ns = socket.socket(); s.setblocking(False)\nassert s.connect_ex(('127.0.0.1', 9)) == 115\nselect.select([], [s], [], 10); s.close()"]);
    expect(gaveUp.status).toBe(0);
    const g = run("trace-summarize", ["--format", "verdict"], gaveUp.stdout).records()[0];
    expect(g.network).toMatchObject({ talks: false, tried: [], connecting: ["TCP 127.0.0.1:9 (under way, outcome not traced)"] });
    expect(run("trace-summarize", ["--format", "text"], gaveUp.stdout).stdout).toMatch(/^  Network:    no — no peers; began to connect to TCP 127\.0\.0\.1:9 \(under way, outcome not traced\); /m);
  }, 60000);
  it("no byte breaks the framing: a newline, a tab, quotes and bytes that are not UTF-8 in paths and in exec arguments", () => {
    const helpers = ROOT + "test/fixtures/strace/helpers.py";
    mkdirSync(tmp + "/names", { recursive: true });
    const r = run("trace-run", ["--backend", "bpftrace", "--", "sh", "-c", `/usr/bin/python3 ${helpers} weird-names ${tmp}/names; /usr/bin/python3 ${helpers} weird-args`]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const recs = r.records();
    expect(recs.at(-1)).toMatchObject({ type: "end", unparsed: 0, lost: 0 });
    const c = calls(recs);
    const names = ["latin1-\udce9", "lt<gt>", "new\nline", 'quote"and\\back', "tab\there", "utf8-é"];
    const under = (op: string) => c.filter((x) => x.op === op && x.path?.startsWith(tmp + "/names/")).map((x) => x.path!.slice(tmp.length + 7)).sort();
    expect(under("create")).toEqual(names);
    expect(under("delete")).toEqual(names);
    expect(c.find((x) => x.syscall === "execve" && x.path === "/bin/true")).toMatchObject({ ok: true, argv: ["true", "new\nline", "tab\there", "latin1-\udce9", "utf8-é"] });
  }, 60000);

  it("lost events never become data: a string not read is missing, the end record counts what was lost", () => {
    // a one-page buffer per CPU and two walks at once: bpftrace cannot keep up, every time
    const r = run("trace-run", ["--backend", "bpftrace", "--", "sh", "-c", "cd /usr/lib && { ls -lR python3 >/dev/null & ls -lR python3 >/dev/null; wait; }"], undefined, { BPFTRACE_PERF_RB_PAGES: "1" });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/bpftrace lost \d+ events: the trace is incomplete/);
    const recs = r.records();
    const end = recs.at(-1);
    expect(end.lost).toBeGreaterThan(0);
    expect(end.lostKinds).toMatchObject({ events: end.lost });
    const c = calls(recs);
    const missing = c.filter((x) => x.missing);
    expect(missing.length).toBe(end.lostKinds.argument ?? 0);
    for (const x of missing) for (const i of x.missing!) expect(x.args[i], JSON.stringify(x)).toBe(null);
    // no pointer turned into a name, and every name given as absolute is one that exists (ls walks files that stay)
    expect(c.filter((x) => /(^|\/)\d{9,}($|\/)/.test(x.path ?? "") || /(^|\/)\d{9,}($|\/)/.test(x.path2 ?? ""))).toEqual([]);
    const made = c.filter((x) => x.ok && x.kind === "file" && x.path && !x.cwdUnknown).filter((x) => {
      try { lstatSync(x.path!); return false; } catch { return true; }
    });
    expect(made).toEqual([]);
  }, 60000);
});
