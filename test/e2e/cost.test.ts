// What a run costs and what it changes, on workloads of known size: a busy loop of known CPU time,
// dd of a known number of bytes, a client that sends a known number of bytes to a local server, a
// tool that only reads, and one that writes outside /tmp.
import { afterAll, describe, expect, it } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/cost-");
const outside = "/var/lib/leastpriv-cost-test";
type Rec = { type: string; [k: string]: any };
const verdict = (events: string): Rec => run("trace-summarize", ["--format", "verdict"], events).records()[0];
const end = (events: string): Rec => events.trim().split("\n").map((l) => JSON.parse(l)).find((r) => r.type === "end");

afterAll(() => { rmSync(tmp, { recursive: true, force: true }); rmSync(outside, { recursive: true, force: true }); });

describe("cost: the end record and the profile", () => {
  it("a busy loop of 0.5 s CPU is measured as such, the tracer's own CPU left out", () => {
    const ev = run("trace-run", ["--backend", "strace", "--", "/usr/bin/python3", "-c",
      "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"]).stdout;
    const c = end(ev).cost;
    expect(c.source).toMatch(/^cgroup/);
    // python's start adds a few tens of milliseconds; the loop's own clock calls are kernel time
    expect(c.cpuUser + c.cpuSystem).toBeGreaterThan(0.45);
    expect(c.cpuUser + c.cpuSystem).toBeLessThan(0.8);
    expect(c.peakMemory).toBeGreaterThan(1 << 20);
    expect(c.processes).toBe(1);
    const h = run("trace-summarize", [], ev).records()[0];
    expect(h.cost).toMatchObject({ processes: 1, runs: 1 });
  });

  it("dd of 1 MiB: exactly 1048576 bytes read from /dev/zero and written to the file (--cost)", () => {
    const ev = run("trace-run", ["--cost", "--", "dd", "if=/dev/zero", `of=${tmp}/dd.out`, "bs=64k", "count=16"]).stdout;
    const sums = run("trace-summarize", [], ev).records();
    expect(sums.find((s: Rec) => s.path?.endsWith("/dd.out")).bytesWritten).toBe(1048576);   // (the directory is a normalised temporary name)
    expect(sums.find((s: Rec) => s.path === "/dev/zero").bytesRead).toBe(1048576);
    expect(verdict(ev).cost.bytesWritten).toBe(1048576);
    const mount = execFileSync("findmnt", ["-n", "-o", "TARGET", "--target", tmp], { encoding: "utf8" }).trim();
    expect(verdict(ev).cost.filesystems.find((f: Rec) => f.mount === mount)?.written).toBe(1048576);   // dd's file is all it wrote
    // without --cost reads and writes are not traced, and the verdict says bytes were not counted
    const plain = run("trace-run", ["--backend", "strace", "--", "dd", "if=/dev/zero", `of=${tmp}/dd2.out`, "bs=64k", "count=16"]).stdout;
    expect(verdict(plain).cost.bytesWritten).toBeUndefined();
    expect(run("trace-summarize", ["--format", "text"], plain).stdout).toContain("bytes not counted (trace with trace-run --cost)");
  });

  it("a client sends 100000 bytes to a local server: its peer shows exactly that", async () => {
    const port = 40000 + (process.pid % 20000);
    const server = spawn("/usr/bin/python3", ["-c",
      "import socket, sys\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n" +
      `s.bind(("127.0.0.1", ${port})); s.listen(1); print("ready", flush=True)\nc, _ = s.accept(); n = 0\n` +
      "while True:\n  d = c.recv(65536)\n  if not d: break\n  n += len(d)\nc.sendall(b'k' * 10); print(n, flush=True)"], { stdio: ["ignore", "pipe", "inherit"] });
    let got = "";
    await new Promise<void>((resolve) => server.stdout!.on("data", (d) => { got += d; if (got.includes("ready")) resolve(); }));
    const ev = run("trace-run", ["--cost", "--", "/usr/bin/python3", "-c",
      `import socket; s = socket.create_connection(("127.0.0.1", ${port})); s.sendall(b"x" * 100000); s.shutdown(socket.SHUT_WR)\n` +
      "n = 0\nwhile True:\n  d = s.recv(100)\n  if not d: break\n  n += len(d)"]).stdout;
    await new Promise((resolve) => server.on("close", resolve));
    expect(got).toContain("100000");                                       // the server did receive it all
    const v = verdict(ev);
    expect(v.network.talks).toBe(true);
    expect(v.network.peers).toEqual([{ peer: `127.0.0.1:${port}`, proto: "TCP", ops: ["connect"], sent: 100000, received: 10 }]);
    expect(v.cost).toMatchObject({ bytesSent: 100000, bytesReceived: 10 });
  });
});

describe("the verdict", () => {
  it("a connection that only failed: no network, but the attempt named", () => {
    const ev = run("trace-run", ["--", "/usr/bin/python3", "-c", "import socket\ntry: socket.create_connection(('127.0.0.1', 9))\nexcept OSError: pass"]).stdout;
    const v = verdict(ev);
    expect(v.network.talks).toBe(false);
    expect(v.network.tried).toEqual(["TCP 127.0.0.1:9 (ECONNREFUSED)"]);
    expect(run("trace-summarize", ["--format", "text"], ev).stdout).toMatch(/^  Network:    no — .*; tried TCP 127\.0\.0\.1:9 \(ECONNREFUSED\) and failed; /m);
  });

  it("a tool that only reads: no changes, the sensitive file named", () => {
    const ev = run("trace-run", ["--", "sh", "-c", "cat /etc/hostname /etc/shadow > /dev/null; ls /etc > /dev/null"]).stdout;
    const v = verdict(ev);
    expect(v.changes).toBe(false);
    expect(v.reads.sensitive).toEqual(["/etc/shadow"]);
    expect(v.reads.files).toBeGreaterThan(3);
    expect(v.network.talks).toBe(false);
    const text = run("trace-summarize", ["--format", "text"], ev).stdout;
    expect(text).toMatch(/^  Changes:    no — /m);
    expect(text).toMatch(/^  Reads:      \d+ files read, listed or run successfully; sensitive: \/etc\/shadow$/m);
    // the list is the user's to replace
    writeFileSync(`${tmp}/sensitive`, "# only this\n/etc/hostname\n");
    expect(run("trace-summarize", ["--format", "verdict", "--sensitive", `${tmp}/sensitive`], ev).records()[0].reads.sensitive).toEqual(["/etc/hostname"]);
  });

  it("a tool that writes outside /tmp changes the system; its writes under /tmp do not count", () => {
    const ev = run("trace-run", ["--", "sh", "-c",
      `mkdir -p ${outside} && echo state > ${outside}/state && echo scratch > ${tmp}/scratch && rm ${tmp}/scratch`]).stdout;
    const v = verdict(ev);
    expect(v.changes).toBe(true);
    expect(v.changed.created).toEqual([outside, `${outside}/state`]);
    expect(JSON.stringify(v.changed)).not.toContain(tmp);
    expect(readFileSync(`${outside}/state`, "utf8")).toBe("state\n");
    // a pipeline gates on it
    const gate = run("trace-filter", ["--where", "changes=true", "--exit-status"], run("trace-summarize", ["--format", "verdict"], ev).stdout);
    expect(gate.status).toBe(0);
    const quiet = run("trace-filter", ["--where", "changes=true", "--exit-status"], run("trace-summarize", ["--format", "verdict"],
      run("trace-run", ["--", "cat", "/etc/hostname"]).stdout).stdout);
    expect(quiet.status).toBe(1);
  });
  it("says what it did not measure: without --cost no file bytes, never '0 B'", async () => {
    const server = spawn("/usr/bin/python3", ["-c", "import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n" +
      "print(s.getsockname()[1], flush=True)\nc, _ = s.accept()\nwhile c.recv(65536): pass"], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<string>((resolve) => server.stdout!.once("data", (d) => resolve(String(d).trim())));
    const ev = run("trace-run", ["--", "/usr/bin/python3", "-c",
      `import socket; s = socket.create_connection(("127.0.0.1", ${port})); s.sendall(b"x" * 5000); s.close(); open("/etc/hostname").read()`]).stdout;
    await new Promise((resolve) => server.on("close", resolve));
    const v = verdict(ev);
    expect(v.notMeasured).toEqual(["file bytes", "socket bytes moved by read and write"]);
    expect(v.cost.bytesSent).toBe(5000);
    const text = run("trace-summarize", ["--format", "text"], ev).stdout;
    expect(text).not.toMatch(/files read 0 B/);
    expect(text).toMatch(/; file bytes not counted \(trace with trace-run --cost\); network sent 4\.9 KiB, received 0 B by send and receive calls \(read and write not traced\)$/m);
  });

  it("a process listing its own descriptors is not reading another's /proc: only the other is sensitive", () => {
    const other = spawn("sleep", ["30"]);
    const ev = run("trace-run", ["--", "/usr/bin/python3", "-c", `import os; os.listdir('/proc/%d/fd' % os.getpid()); open('/proc/${other.pid}/environ', 'rb').read()`]).stdout;
    other.kill();
    const v = verdict(ev);
    expect(v.reads.sensitive).toEqual(["/proc/<pid>/environ"]);
    const sums = run("trace-summarize", [], ev).records();
    expect(sums.some((s: Rec) => s.path === "/proc/self/fd")).toBe(true);
  });
});
