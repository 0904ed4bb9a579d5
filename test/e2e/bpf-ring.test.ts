// The batched eBPF backend's parts for real: the loader built by npm run build (bpf/build.mjs), as
// root, started for a command's process tree; its frames read by lib/bpf/ring-reader.ts.
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run } from "../helpers.js";
import { RingReader } from "../../lib/bpf/ring-reader.js";
import { Feed, readAll } from "../../lib/trace/reader.js";
import { LOADER, OUTPUT_HOLD, loaderUnavailable, startLoader } from "../../lib/bpf/start.js";
import { launchStopped, release } from "../../lib/run/stopped.js";
import type { SyscallRecord, TraceRecord } from "../../lib/io/records.js";

const tmp = mkdtempSync(tmpdir() + "/trace-ring-");
const ctr = `leastpriv-ring-${process.pid}`;

/** The loader started for a cgroup target; what the reader made, each record with the cgroup it came from. */
async function traceCgroups(target: { cgroup: number } | { newCgroups: true }, during: () => void) {
  const recs: { rec: TraceRecord; cgroup?: number }[] = [];
  const reader = new RingReader((rec, cgroup) => recs.push({ rec, cgroup }));
  const loader = startLoader(target, { onData: (c) => reader.chunk(c) });
  await loader.ready;
  during();
  loader.stop();
  const done = await loader.done;
  reader.end();
  return { recs, reader, loader: done };
}

/** A process's cgroup v2 id: the inode of its directory (what the kernel side compares). */
function cgroupId(pid: number): number {
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").find((l) => l.startsWith("0::"))!;
  const root = readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")).find((f) => f[2] === "cgroup2")![1];
  return statSync(root + line.slice(3)).ino;
}
const calls = (recs: any[]): SyscallRecord[] => recs.filter((x) => x.type === "syscall");
/** The environment of the commands the tests below start themselves. */
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C" };

/** Traces an absolute command from its first instruction to the exit of its last task. */
async function trace(command: string[], o: { tickMs?: number; ringMb?: number; wakeMark?: number; cwd?: string; execProbe?: "prepare" | "entry" } = {}) {
  const cwd = o.cwd ?? ROOT;
  // the environment trace-run's tests give it (test/helpers.ts), so that the two backends' runs agree
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "dumb", TZ: "UTC", LANG: "C" };
  const child = await launchStopped(command, { stdio: ["ignore", "ignore", "ignore"], cwd, env });
  const recs: TraceRecord[] = [];
  const reader = new RingReader((r) => recs.push(r), { cwd });
  const raw: Buffer[] = [];
  const loader = startLoader({ tree: child.pid!, cwd }, { onData: (c) => { raw.push(c); reader.chunk(c); }, tickMs: o.tickMs, ringMb: o.ringMb, wakeMark: o.wakeMark, execProbe: o.execProbe });
  await loader.ready;
  release(child);
  const status = await new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  // the end is when every task of the tree has been read exiting
  await new Promise<void>((r) => { const t = setInterval(() => { if (reader.livePids().length === 0) { clearInterval(t); r(); } }, 10); });
  loader.stop();
  const done = await loader.done;
  reader.end();
  return { recs, reader, status, loader: done, raw: Buffer.concat(raw) };
}

describe("the batched eBPF loader and its reader", () => {
  beforeAll(() => { expect(loaderUnavailable()).toBeUndefined(); });
  afterAll(() => {
    spawnSync("docker", ["rm", "-f", ctr]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it("an exec's strings, read where the kernel prepares it or (as before Linux 6.10) at every call's entry: the same execs, failed, by a script, by a thread", async () => {
    writeFileSync(tmp + "/hello.sh", "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    writeFileSync(tmp + "/execs.py", [
      "import os, threading",
      "pid = os.fork()",
      "if pid == 0:",
      "    try: os.execv(b'/nonexistent/\\xff\\n', [b'x', b'a\\tb'])",
      "    except OSError: pass",
      "    os.execv('/bin/sh', ['sh', '-c', 'exit 0'])",
      "os.waitpid(pid, 0)",
      "pid = os.fork()",
      "if pid == 0: os.execv('" + tmp + "/hello.sh', ['hello.sh', 'arg'])",
      "os.waitpid(pid, 0)",
      // (a thread's exec goes on under the leader's pid)
      "t = threading.Thread(target=lambda: os.execv('/bin/true', ['true', 'from a thread']))",
      "t.start(); t.join()",
    ].join("\n") + "\n");
    const execs = async (execProbe: "prepare" | "entry") => {
      const { recs, reader, status } = await trace(["/usr/bin/python3", tmp + "/execs.py"], { cwd: tmp, execProbe });
      expect(status).toBe(0);
      expect([reader.counts.unparsed, reader.lost]).toEqual([0, 0]);
      return calls(recs).filter((x) => x.kind === "exec").map((x) => ({ path: x.path, argv: x.argv, ok: x.ok, errno: x.errno }));
    };
    const want = [
      { path: "/usr/bin/python3", argv: ["/usr/bin/python3", tmp + "/execs.py"], ok: true, errno: undefined },
      { path: "/nonexistent/\udcff\n", argv: ["x", "a\tb"], ok: false, errno: "ENOENT" },
      { path: "/bin/sh", argv: ["sh", "-c", "exit 0"], ok: true, errno: undefined },
      { path: tmp + "/hello.sh", argv: ["hello.sh", "arg"], ok: true, errno: undefined },
      { path: "/bin/true", argv: ["true", "from a thread"], ok: true, errno: undefined },
    ];
    expect(await execs("prepare")).toEqual(want);
    expect(await execs("entry")).toEqual(want);
  }, 60000);

  it("a newline, a tab and bytes that are not UTF-8 in paths and arguments keep their records whole", async () => {
    const long = "L".repeat(250);         // longer than the bpftrace backend's 199 bytes
    const big = "B".repeat(10000);        // an argument longer than one ring buffer chunk
    writeFileSync(tmp + "/hostile.py", [
      "import os",
      "os.mkdir(b'd')",
      "for n in [b'd/a\\nb', b'd/t\\tx\\xff\\xfe', b'd/" + long + "']:",
      "    os.close(os.open(n, os.O_CREAT | os.O_WRONLY, 0o600))",
      "os.rename(b'd/a\\nb', b'd/new\\nline\\t\\xc3(')",
      "args = [b'true', b'x\\ny', b'\\t', b'\\xff\\xc3(', b'" + big + "'] + [b'%d' % i for i in range(100)]",
      "os.execv(b'/bin/true', args)",
    ].join("\n") + "\n");
    const { recs, reader, status, raw } = await trace(["/usr/bin/python3", tmp + "/hostile.py"], { cwd: tmp });
    expect(status).toBe(0);
    expect(reader.counts.unparsed).toBe(0);
    expect(reader.lost).toBe(0);
    const c = calls(recs);
    const d = tmp + "/d/";
    const created = c.filter((x) => x.syscall === "openat" && x.op === "create").map((x) => x.path);
    expect(created).toEqual([d + "a\nb", d + "t\tx\udcff\udcfe", d + long]);
    expect(c.find((x) => x.syscall === "rename")).toMatchObject({ ok: true, path: d + "a\nb", path2: d + "new\nline\t\udcc3(" });
    const exec = c.filter((x) => x.syscall === "execve" && x.ok).at(-1)!;
    expect(exec.path).toBe("/bin/true");
    expect(exec.argv).toEqual(["true", "x\ny", "\t", "\udcff\udcc3(", big, ...Array.from({ length: 100 }, (_, i) => String(i))]);
    expect(exec.argvTruncated).toBeUndefined();
    expect(recs.every((r) => r.type !== "syscall" || !(r as SyscallRecord).missing)).toBe(true);

    // a byte reader as every reader is fed: the same bytes, whole or cut anywhere, give the same records
    const again = (size: number) => {
      const out: TraceRecord[] = [];
      const r = new RingReader((x) => out.push(x), { cwd: tmp });
      r.startFile("leastpriv-bpf");
      const feed = new Feed(r);
      for (let at = 0; at < raw.length; at += size) feed.push(raw.subarray(at, at + size));
      feed.close();
      r.end();
      expect(r.counts).toEqual(reader.counts);
      return out;
    };
    expect(readAll(new RingReader(() => {}, { cwd: tmp }), raw).counts).toEqual(reader.counts);
    for (const size of [1, 7, 4096, raw.length]) expect(again(size)).toEqual(recs);
    // a stream cut inside a frame: what was cut is said, never dropped
    const cut: TraceRecord[] = [];
    readAll(new RingReader((x) => cut.push(x), { cwd: tmp }), raw.subarray(0, raw.length - 3));
    // (the last frame is the end frame: a length, then 48 bytes)
    expect(cut.at(-1)).toMatchObject({ type: "unparsed", offset: raw.length - 52, reason: "a frame cut short at the end of the loader's output (45 of its 48 bytes)" });
  }, 60000);

  it("agrees with strace on the programs run and the files named", async () => {
    writeFileSync(tmp + "/in.txt", "hi\n");
    writeFileSync(tmp + "/work.sh", [
      "cd \"$(dirname \"$0\")\"",
      "cat in.txt /etc/hostname > out.txt",
      "mkdir -p w; cd w; ls .. > /dev/null; mv ../out.txt moved.txt; rm moved.txt; cd ..; rmdir w",
      "/usr/bin/python3 -c 'import os; os.stat(\"/etc/passwd\")'",
      "(sleep 0.2; cat /etc/hostname > /dev/null) &",
      "exit 3",
    ].join("\n") + "\n");
    const s = run("trace-run", ["--backend", "strace", "--", "/bin/sh", tmp + "/work.sh"]).records();
    const b = await trace(["/bin/sh", tmp + "/work.sh"]);
    expect(b.status).toBe(3);
    const execs = (recs: any[]) => calls(recs).filter((x) => x.kind === "exec" && x.ok).map((x) => [x.path, x.argv]);
    expect(execs(b.recs)).toEqual(execs(s));
    const PATH_ARG = /^(open|openat|creat|stat|lstat|newfstatat|statx|access|faccessat2?|readlink|mkdir|rmdir|unlink|unlinkat|rename|renameat2?|chdir|execve)$/;
    const named = (recs: any[]) => new Set(calls(recs).filter((r) => PATH_ARG.test(r.syscall) && r.path !== undefined && !(r.syscall === "newfstatat" && r.args[1] === ""))
      .map((r) => `${r.syscall} ${r.path}${r.path2 ? " " + r.path2 : ""} ${r.ok}`));
    const [ns, nb] = [named(s), named(b.recs)];
    expect([...nb].filter((x) => !ns.has(x))).toEqual([]);
    expect([...ns].filter((x) => !nb.has(x))).toEqual([]);
    // the exits: the script's status, and every process seen ending
    const exits = (recs: any[]) => recs.filter((x) => x.type === "exit" && !x.supersededBy).map((x) => x.code ?? x.signal).sort();
    expect(exits(b.recs)).toEqual(exits(s));
  }, 60000);

  it("makes the records the bpftrace backend makes: files, sockets, pipes, execs, forks, exits", async () => {
    writeFileSync(tmp + "/net.py", [
      "import socket, os",
      "def tryto(f, *a):",
      "    try: f(*a)",
      "    except OSError: pass",
      "tryto(socket.socket().connect, ('127.0.0.1', 9))",
      "tryto(socket.socket(socket.AF_INET6).connect, ('::1', 9))",
      "tryto(socket.socket(socket.AF_UNIX).connect, '/run/leastpriv-none.sock')",
      "tryto(socket.socket(socket.AF_UNIX).connect, '\\0leastpriv-abstract')",
      "r, w = os.pipe2(os.O_CLOEXEC)",
      "os.mkdir('d2'); os.rename('d2', 'd3'); os.rmdir('d3')",
    ].join("\n") + "\n");
    // a thread that execs: it goes on as its leader, whose exit is "superseded"
    writeFileSync(tmp + "/thread.py", "import os, threading\nt = threading.Thread(target=lambda: os.execv('/bin/cat', ['cat', '/etc/hostname']))\nt.start(); t.join()\n");
    writeFileSync(tmp + "/both.sh", `cd "${tmp}"; cat /etc/hostname > /dev/null; /usr/bin/python3 net.py; ls -l /etc/hostname > /dev/null; /usr/bin/python3 thread.py > /dev/null; exit 4\n`);
    const bt = run("trace-run", ["--backend", "bpftrace", "--", "/bin/sh", tmp + "/both.sh"]).records();
    const rb = await trace(["/bin/sh", tmp + "/both.sh"]);
    expect(rb.status).toBe(4);
    // the pids and times differ from run to run, and so do the pids forks return
    const same = (recs: any[]) => recs.filter((r) => r.type === "syscall" || r.type === "exit").map((r) => {
      const { pid: _p, time: _t, ...x } = r;
      if (x.op === "fork") x.ret = x.ok ? "child" : x.ret;
      if (x.supersededBy) x.supersededBy = "thread";
      return JSON.stringify(x);
    }).sort();
    expect(same(rb.recs)).toEqual(same(bt));
    expect(rb.recs.filter((r: any) => r.type === "exit" && r.supersededBy)).toHaveLength(1);
    const c = calls(rb.recs);
    expect(c.filter((x) => x.syscall === "connect" && x.comm === "python3").map((x) => x.args[1]).filter((a: any) => a.sun_path !== "/var/run/nscd/socket")).toEqual([
      { sa_family: "AF_INET", sin_port: 9, sin_addr: "127.0.0.1" }, { sa_family: "AF_INET6", sin6_port: 9, sin6_addr: "::1" },
      { sa_family: "AF_UNIX", sun_path: "/run/leastpriv-none.sock" }, { sa_family: "AF_UNIX", sun_path: { abstract: "leastpriv-abstract" } }]);
  }, 60000);

  it("cgroups made from now on (mode 3): a docker run's container, by the cgroup named by its id", async () => {
    const cid = tmp + "/cid";
    let status: number | null = null;
    const { recs, reader, loader } = await traceCgroups({ newCgroups: true }, () => {
      status = spawnSync("docker", ["run", "--rm", "--cidfile", cid, "leastpriv-test:1", "sh", "-c", "cat /etc/hostname > /dev/null; exit 5"]).status;
    });
    expect(status).toBe(5);
    expect(loader).toEqual({ code: 0, signal: null });
    expect(reader.ended).toBe(true);
    expect(reader.lost).toBe(0);
    const id = readFileSync(cid, "utf8").trim();
    // other runs on the machine make cgroups too: the container's is the one its id names
    const mine = [...reader.cgroups].filter(([, path]) => path.includes(id)).map(([g]) => g);
    expect(mine.length).toBeGreaterThan(0);
    const inside = recs.filter((r) => r.cgroup !== undefined && mine.includes(r.cgroup)).map((r) => r.rec);
    const c = calls(inside);
    expect(c.find((x) => x.syscall === "execve" && x.ok && x.argv?.[0] === "sh")).toMatchObject({ argv: ["sh", "-c", "cat /etc/hostname > /dev/null; exit 5"] });
    expect(c.find((x) => x.syscall === "openat" && x.ok && x.args[1] === "/etc/hostname")).toBeDefined();
    expect(inside.filter((r) => r.type === "exit").map((r: any) => r.code)).toContain(5);
    // the client and the daemons are not in the container's cgroup
    expect(c.some((x) => x.comm === "docker" || x.comm === "dockerd" || x.comm === "containerd")).toBe(false);
  }, 60000);

  it("podman run (no daemon) as the process tree it is: the container's program, to its exit", async () => {
    const podman = ["/usr/bin/podman", "run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--rm"];
    const { recs, reader, status } = await trace([...podman, "leastpriv-test:1", "sh", "-c", "cat /etc/hostname > /dev/null; exit 5"]);
    expect(status).toBe(5);
    expect(reader.lost).toBe(0);
    expect(reader.counts.unparsed).toBe(0);
    const c = calls(recs);
    // conmon leaves podman's tree as a daemon would, and runc's child becomes the program: still followed
    expect(c.find((x) => x.syscall === "execve" && x.ok && x.argv?.[0] === "sh")).toMatchObject({ argv: ["sh", "-c", "cat /etc/hostname > /dev/null; exit 5"] });
    const sh = c.find((x) => x.syscall === "execve" && x.ok && x.argv?.[0] === "sh")!.pid;
    expect(c.find((x) => x.syscall === "openat" && x.ok && x.args[1] === "/etc/hostname")).toBeDefined();
    expect(recs.find((r: any) => r.type === "exit" && r.pid === sh)).toMatchObject({ code: 5 });
  }, 60000);

  it("a running container's cgroup (mode 2): what docker exec runs in it, and nothing from outside", async () => {
    execFileSync("docker", ["run", "-d", "--name", ctr, "leastpriv-test:1", "sleep", "60"], { stdio: "ignore" });
    const pid = Number(execFileSync("docker", ["inspect", "-f", "{{.State.Pid}}", ctr], { encoding: "utf8" }).trim());
    const id = cgroupId(pid);
    const { recs, reader } = await traceCgroups({ cgroup: id }, () => {
      execFileSync("docker", ["exec", ctr, "cat", "/etc/hostname"], { stdio: "ignore" });
      execFileSync("cat", ["/etc/hostname"], { stdio: "ignore" });      // outside: not traced
    });
    spawnSync("docker", ["rm", "-f", ctr]);
    expect(reader.mode).toBe(2);
    expect(reader.id).toBe(id);
    expect(reader.lost).toBe(0);
    expect(recs.length).toBeGreaterThan(0);
    expect(recs.every((r) => r.rec.type !== "syscall" || r.cgroup === id)).toBe(true);
    const c = calls(recs.map((r) => r.rec));
    expect(c.find((x) => x.syscall === "execve" && x.ok && x.argv?.[0] === "cat")).toMatchObject({ argv: ["cat", "/etc/hostname"] });
    expect(c.filter((x) => x.syscall === "openat" && x.args[1] === "/etc/hostname")).toHaveLength(1);
  }, 60000);

  it("--check loads a run's program and attaches nothing: silent and 0 here; root without CAP_BPF gets one line and 4, as a run does", () => {
    for (const probe of [[], ["--exec-probe", "entry"], ["--ring-mb", "1"]]) {
      expect(spawnSync(LOADER, ["--check", ...probe], { encoding: "utf8" }), probe.join(" ")).toMatchObject({ status: 0, stdout: "", stderr: "" });
    }
    expect(spawnSync(LOADER, ["--check", "1", "2"], { encoding: "utf8" }).status).toBe(2);
    // what a container's root has: no CAP_BPF, CAP_PERFMON nor CAP_SYS_ADMIN
    const dropped = ["--bounding-set", "-bpf,-sys_admin,-perfmon", "--", LOADER];
    for (const args of [["--check"], ["1", String(process.pid)]]) {
      const r = spawnSync("setpriv", [...dropped, ...args], { encoding: "utf8" });
      expect(r.status, args.join(" ")).toBe(4);
      expect(r.stdout).toBe("");
      // one line, not libbpf's
      expect(r.stderr).toBe("leastpriv-bpf: the kernel lets this process load no BPF program (Operation not permitted): it needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN\n");
    }
  });

  it("a loader whose reader went away ends, even when nothing more is traced", async () => {
    // a tree that has already ended: no frame will come after the ready one, so no write can fail
    const gone = await launchStopped(["/bin/true"], { stdio: ["ignore", "ignore", "ignore"] });
    const pid = gone.pid!;
    release(gone);
    await new Promise((r) => gone.on("close", r));
    const loader = startLoader({ tree: pid }, { onData: () => {} });
    await loader.ready;
    loader.child.stdout!.destroy();
    expect(await loader.done).toEqual({ code: 3, signal: null });
  }, 20000);

  it("what the ring buffer has no room for is counted, never silent", async () => {
    // a ring of 1 MiB drained once a second, never woken early, cannot hold a walk of /usr: the kernel
    // side counts each frame it could not write, the loader reports them, the reader counts them
    const { reader, recs } = await trace(["/usr/bin/find", "/usr/share", "-name", "*.h"], { tickMs: 1000, ringMb: 1, wakeMark: 1 << 20 });
    expect(reader.ended).toBe(true);
    expect(reader.lost).toBeGreaterThan(0);
    expect(reader.lostKinds.events).toBeGreaterThan(0);
    expect(reader.lost).toBe((reader.lostKinds.events ?? 0) + (reader.lostKinds.argv ?? 0));
    expect(recs.some((r) => r.type === "info" && /^eBPF: lost \d+ events$/.test(r.text))).toBe(true);
  }, 60000);

  it("a reader that takes nothing while the command runs: the loader holds the frames, this process about a MiB; past the hold, the loss is counted", async () => {
    // (trace-run's reader, at idle priority while the traced programs keep a CPU busy, falls behind)
    const RING_MB = 4;
    async function unread(holdMb: number) {
      const child = await launchStopped(["/usr/bin/find", "/usr", "-name", "*.h"], { stdio: ["ignore", "ignore", "ignore"], cwd: ROOT, env });
      const loader = startLoader({ tree: child.pid!, cwd: ROOT }, { ringMb: RING_MB, holdMb });
      await loader.ready;
      release(child);
      await new Promise((r) => child.on("close", r));
      // (the last frames reach the loader within a drain)
      await new Promise((r) => setTimeout(r, 300));
      const out = loader.output!;
      const waiting = out.readableLength + out.writableLength;
      loader.stop();
      const recs: TraceRecord[] = [];
      const reader = new RingReader((r) => recs.push(r), { cwd: ROOT });
      let bytes = 0;
      for await (const c of out) { bytes += c.length; reader.chunk(c); }
      reader.end();
      return { waiting, bytes, reader, recs, loader: await loader.done, pid: child.pid! };
    }
    const held = await unread(64);
    // the walk's frames are more than the ring, the pipe and this process hold, and less than the hold
    expect(held.bytes).toBeGreaterThan((RING_MB << 20) + 2 * OUTPUT_HOLD);
    expect(held.bytes).toBeLessThan(64 << 20);
    expect(held.waiting).toBeLessThanOrEqual(OUTPUT_HOLD + 2 * 65536);
    expect(held.loader).toEqual({ code: 0, signal: null });
    expect(held.reader.ended).toBe(true);
    expect(held.reader.lost).toBe(0);
    expect(held.recs.filter((r) => r.type === "exit" && r.pid === held.pid)).toHaveLength(1);
    expect(calls(held.recs).filter((r) => r.syscall === "newfstatat" || r.syscall === "openat").length).toBeGreaterThan(10000);
    const cut = await unread(1);
    expect(cut.reader.ended).toBe(true);
    expect(cut.reader.lost).toBeGreaterThan(0);
    expect(cut.recs.some((r) => r.type === "info" && /^eBPF: lost \d+ events$/.test(r.text))).toBe(true);
  }, 60000);

  it("writes in batches while the command runs (LEASTPRIV_EBPF_BATCH_MS), and at once from its first process's exit", async () => {
    // a command that runs a cat every 100 ms for 1.3 s: when do the frames reach the reader? (its
    // second batch, begun at about 1 s, would be due at about 2 s)
    async function arrivals(batchMs: number | undefined) {
      const child = await launchStopped(["/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do cat /etc/hostname; sleep 0.1; done"],
        { stdio: ["ignore", "ignore", "ignore"], cwd: ROOT, env });
      const recs: TraceRecord[] = [];
      const reader = new RingReader((r) => recs.push(r), { cwd: ROOT });
      const at: number[] = [];
      let exitSeen: number | undefined;
      const loader = startLoader({ tree: child.pid!, cwd: ROOT }, {
        batchMs,
        onData: (c) => {
          at.push(Date.now());
          reader.chunk(c);
          if (exitSeen === undefined && recs.some((r) => r.type === "exit" && r.pid === child.pid)) exitSeen = Date.now();
        },
      });
      await loader.ready;
      const start = Date.now();
      release(child);
      await new Promise((r) => child.on("close", r));
      const closed = Date.now();
      await new Promise<void>((r) => { const t = setInterval(() => { if (exitSeen !== undefined) { clearInterval(t); r(); } }, 10); });
      loader.stop();
      await loader.done;
      reader.end();
      // writes more than 50 ms apart while the command ran
      const during = at.filter((t) => t > start && t < closed);
      const bursts = during.filter((t, i) => i === 0 || t - during[i - 1] > 50).length;
      const cats = recs.filter((r) => r.type === "syscall" && r.syscall === "execve" && JSON.stringify(r).includes("/bin/cat")).length;
      return { bursts, late: exitSeen! - closed, cats };
    }
    const batched = await arrivals(undefined);
    const each = await arrivals(0);
    for (const r of [batched, each]) expect(r.cats).toBe(13);
    // one or two batches by their age, against one a drain
    expect(batched.bursts).toBeLessThanOrEqual(3);
    expect(each.bursts).toBeGreaterThanOrEqual(8);
    // the first process's exit was written within a few drains, not at its batch's age
    expect(batched.late).toBeLessThan(400);
  }, 60000);
});
