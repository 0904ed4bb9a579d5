// trace-run --backend ebpf for real: the batched eBPF loader (dist/leastpriv-bpf, built by npm run build)
// as root, with tracefs; its container cases (docker run, podman run, --container) are the bpftrace
// backend's too, in test/container-cases.ts.
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawn, spawnSync } from "node:child_process";
import { ROOT, run } from "../helpers.js";
import { containerCases } from "../container-cases.js";
import type { SyscallRecord } from "../../lib/io/records.js";

const tmp = mkdtempSync(tmpdir() + "/trace-ebpf-");
const calls = (recs: any[]): SyscallRecord[] => recs.filter((x) => x.type === "syscall");
const ebpf = (args: string[], env?: Record<string, string>) => run("trace-run", ["--backend", "ebpf", ...args], undefined, env);

describe("trace-run --backend ebpf", () => {
  beforeAll(() => {
    writeFileSync(tmp + "/in.txt", "hi\n");
    writeFileSync(tmp + "/work.sh", [
      "cd \"$(dirname \"$0\")\"",
      "cat in.txt /etc/hostname > out.txt",
      "mkdir -p d; cd d; ls .. > /dev/null; mv ../out.txt moved.txt; rm moved.txt; cd ..; rmdir d",
      "/usr/bin/python3 -c 'import os; os.stat(\"/etc/passwd\")'",
      "(cat /etc/hostname > /dev/null) &",
      "wait",
      "exit 3",
    ].join("\n") + "\n");
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it("a tree that forks and execs in a loop: every exec seen, the end complete, over repeated runs", () => {
    const n = 40;
    for (let round = 0; round < 3; round++) {
      const r = ebpf(["--", "sh", "-c", `i=0; while [ $i -lt ${n} ]; do (/bin/echo $i > /dev/null); i=$((i+1)); done`]);
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      const recs = r.records();
      expect(recs[0]).toMatchObject({ type: "run", tracer: "ebpf", tracerVersion: expect.stringMatching(/frame format \d+/) });
      const echoed = calls(recs).filter((x) => x.syscall === "execve" && x.ok && x.path === "/bin/echo").map((x) => x.argv?.[1]);
      expect(echoed).toEqual(Array.from({ length: n }, (_, i) => String(i)));
      // every subshell forked, and every one seen exiting
      expect(recs.filter((x) => x.type === "exit").length).toBeGreaterThanOrEqual(n + 1);
      // a fork is the parent's call, which returns the child's pid: the child's own first return (0,
      // the end of a call it never entered) is not one
      const forks = calls(recs).filter((x) => x.kind === "proc" && x.op === "fork");
      expect(forks.length).toBeGreaterThanOrEqual(n);
      expect(forks.filter((x) => !(typeof x.ret === "number" && x.ret > 0))).toEqual([]);
      expect(recs.at(-1)).toMatchObject({ type: "end", exit: 0, ended: "exited", complete: true, lost: 0, unparsed: 0 });
      expect(recs.at(-1).incomplete).toBeUndefined();
    }
  }, 120000);

  it("needs no tracefs (a mount namespace of its own without it): none is mounted, and the execs are seen", () => {
    // (every probe is a BTF raw tracepoint, which needs no tracefs; syscalls: events would)
    const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c",
      'umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null; [ -e /sys/kernel/tracing/events ] && exit 9; "$@"; s=$?; [ -e /sys/kernel/tracing/events ] && exit 8; exit $s', "sh",
      process.execPath, ROOT + "dist/commands/trace-run.js", "--backend", "ebpf", "--", "sh", "-c", "/bin/echo one; /bin/echo two"], { encoding: "utf8" });
    // (the command's output goes to stderr, beside the records)
    expect(r.stderr).toBe("one\ntwo\n");
    expect(r.status).toBe(0);
    const recs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(calls(recs).filter((x) => x.syscall === "execve" && x.ok).map((x) => x.argv)).toEqual([["sh", "-c", "/bin/echo one; /bin/echo two"], ["/bin/echo", "one"], ["/bin/echo", "two"]]);
    expect(recs.at(-1)).toMatchObject({ type: "end", exit: 0, complete: true, lost: 0 });
  }, 60000);

  it("reads at idle priority while the command runs at its own; a bad LEASTPRIV_EBPF_READER is refused", () => {
    // the command's parent is trace-run: the command waits until trace-run is idle, then says both
    const r = ebpf(["--", "sh", "-c", 'i=0; until chrt -p $PPID | grep -q SCHED_IDLE || [ $i -ge 200 ]; do sleep 0.02; i=$((i+1)); done; chrt -p $PPID; chrt -p $$']);
    expect(r.status).toBe(0);
    const policies = [...r.stderr.matchAll(/scheduling policy: (\S+)/g)].map((m) => m[1]);
    expect(policies).toEqual(["SCHED_IDLE", "SCHED_OTHER"]);
    const bad = ebpf(["--", "true"], { LEASTPRIV_EBPF_READER: "low" });
    expect(bad.stderr).toBe("trace-run: LEASTPRIV_EBPF_READER wants idle or normal, not 'low'\n");
    expect(bad.status).toBe(125);
  }, 60000);

  it("a reader at idle priority falling behind is raised again: two CPU-bound loops and walks of /usr lose nothing, over repeated runs", () => {
    // the loops take every CPU: at idle priority the reader would get almost none of it, and the
    // ring would overflow (about 290,000 events lost, with the raise taken out)
    for (let round = 0; round < 3; round++) {
      const r = ebpf(["--", "sh", "-c", "yes > /dev/null & a=$!; yes > /dev/null & b=$!; find /usr > /dev/null; find /usr -name '*.h' > /dev/null; kill $a $b"]);
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(r.records().at(-1)).toMatchObject({ type: "end", exit: 0, complete: true, lost: 0 });
    }
  }, 180000);

  it("docker run beside other containers: the end's `records` are those written, not those of the others it read", () => {
    // every cgroup made from now on is traced (the new container's is not known yet): the others'
    // calls are read, and left out by the scope
    const stop = `${tmp}/stop-others`;
    const others = spawn("bash", ["-c", `while [ ! -e ${stop} ]; do docker run --rm leastpriv-test:2 sh -c 'ls -R /bin > /dev/null'; done`], { stdio: "ignore" });
    try {
      for (let round = 0; round < 3; round++) {
        const r = ebpf(["--", "docker", "run", "--rm", "leastpriv-test:2", "sh", "-c", "ls /bin > /dev/null; cat /etc/hostname"]);
        expect(r.status, r.stderr).toBe(0);
        const recs = r.records();
        expect(recs.at(-1)).toMatchObject({ type: "end", complete: true, lost: 0, records: recs.length - 2 });
        // (and what was written is this container's or its runtime's)
        expect(calls(recs).filter((x) => !x.runtime && x.container === undefined)).toEqual([]);
      }
    } finally {
      writeFileSync(stop, "");
      others.kill();
    }
  }, 120000);

  it("passes the command's status on: an exit status, a signal", () => {
    const three = ebpf(["--", "sh", "-c", "exit 3"]);
    expect(three.status).toBe(3);
    expect(three.records().at(-1)).toMatchObject({ type: "end", exit: 3, ended: "exited", complete: true });
    const killed = ebpf(["--", "sh", "-c", "kill -TERM $$"]);
    expect(killed.status).toBe(128 + 15);
    expect(killed.records().at(-1)).toMatchObject({ type: "end", signal: "SIGTERM", ended: "killed", complete: true });
  }, 60000);

  it("agrees with strace: the same programs run, and profiles that diff clean both ways", () => {
    const s = run("trace-run", ["--backend", "strace", "--", "sh", tmp + "/work.sh"], undefined, { HOME: tmp });
    const e = ebpf(["--", "sh", tmp + "/work.sh"], { HOME: tmp });
    expect([s.status, e.status]).toEqual([3, 3]);
    const execs = (recs: any[]) => calls(recs).filter((x) => x.kind === "exec" && x.ok).map((x) => x.argv);
    expect(execs(e.records())).toEqual(execs(s.records()));
    const exits = (recs: any[]) => recs.filter((x) => x.type === "exit").map((x) => x.code ?? x.signal).sort();
    expect(exits(e.records())).toEqual(exits(s.records()));
    const prof = (name: string, ev: string) => {
      writeFileSync(`${tmp}/${name}.profile`, run("trace-summarize", [], ev).stdout);
      return `${tmp}/${name}.profile`;
    };
    const [ps, pe] = [prof("strace", s.stdout), prof("ebpf", e.stdout)];
    for (const [x, y] of [[ps, pe], [pe, ps]]) {
      const d = run("trace-diff", ["--strict", "--format", "text", x, y]);
      expect(d.stdout).toBe("0 differences, 0 failing\n");
      expect(d.status).toBe(0);
    }
  }, 90000);

  it("an exec argument the probe cannot read at the call's start (a page not yet in memory): read from the new image", () => {
    // (as conmon's string constants for runc's argv, now and then). The string is in a page of a file
    // mapped and never touched: execve faults it in, a probe at its start cannot. Once the exec has
    // succeeded the strings are on the new stack, and read there; a failed exec has no new image, and
    // its argv ends before the string, said and counted.
    writeFileSync(tmp + "/hole.dat", Buffer.concat([Buffer.alloc(4096, "a"), Buffer.from("untouched\0"), Buffer.alloc(4086, "a")]));
    writeFileSync(tmp + "/hole.py", [
      "import ctypes, mmap, sys",
      "libc = ctypes.CDLL(None, use_errno=True)",
      "libc.mmap.restype = ctypes.c_void_p",
      "libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]",
      "f = open(sys.argv[1], 'rb')",
      "p = libc.mmap(None, 8192, mmap.PROT_READ, mmap.MAP_PRIVATE, f.fileno(), 0)",
      "assert p not in (None, 2**64 - 1)",
      "argv = (ctypes.c_char_p * 4)(b'echo', ctypes.c_char_p(p + 4096), b'after', None)",
      "libc.execv(sys.argv[2].encode(), argv)",
      "sys.exit(9)",
    ].join("\n") + "\n");
    const r = ebpf(["--stdout", tmp + "/hole.out", "--raw", tmp + "/hole.raw", "--", "/usr/bin/python3", tmp + "/hole.py", tmp + "/hole.dat", "/bin/echo"]);
    expect(r.status).toBe(0);
    expect(readFileSync(tmp + "/hole.out", "utf8")).toBe("untouched after\n");     // what the kernel ran
    const recs = r.records();
    const exec = calls(recs).find((x) => x.syscall === "execve" && x.path === "/bin/echo");
    expect(exec).toMatchObject({ ok: true, argv: ["echo", "untouched", "after"] });
    expect(exec).not.toHaveProperty("missing");
    expect(exec).not.toHaveProperty("argvTruncated");
    expect(recs.at(-1)).toMatchObject({ type: "end", complete: true, lost: 0 });
    // the frames that carry the new image's strings are read back from --raw as well
    const p = run("trace-parse", [tmp + "/hole.raw"]);
    expect(p.status, p.stderr).toBe(0);
    expect(calls(p.records()).find((x) => x.syscall === "execve" && x.path === "/bin/echo")).toMatchObject({ argv: ["echo", "untouched", "after"] });
    expect(p.records().at(-1)).toMatchObject({ type: "end", complete: true });
    // the exec fails (no such file): the argv up to the string not read
    const f = ebpf(["--", "/usr/bin/python3", tmp + "/hole.py", tmp + "/hole.dat", tmp + "/no-such-program"]);
    expect(f.status).toBe(9);
    const failed = calls(f.records()).find((x) => x.syscall === "execve" && x.path === tmp + "/no-such-program");
    expect(failed).toMatchObject({ ok: false, errno: "ENOENT", argv: ["echo"], argvTruncated: true, missing: [1] });
    expect(f.records().at(-1)).toMatchObject({ type: "end", complete: false, incomplete: ["lost 1 argument piece"], lostKinds: { events: 0, argument: 1 } });
  }, 60000);

  it("a newline, a tab and a byte that is not UTF-8 in a path: kept intact, the records whole", () => {
    const long = "L".repeat(250);        // longer than the bpftrace backend's 199 bytes
    writeFileSync(tmp + "/hostile.py", [
      "import os",
      `d = b'${tmp}/h/'`,
      "os.makedirs(d, exist_ok=True)",
      "for n in [d + b'a\\nb', d + b't\\tx\\xff', d + b'" + long + "']:",
      "    os.close(os.open(n, os.O_CREAT | os.O_WRONLY, 0o600))",
      "os.execv(b'/bin/true', [b'true', b'x\\ny', b'\\xff\\t'])",
    ].join("\n") + "\n");
    const r = ebpf(["--", "/usr/bin/python3", tmp + "/hostile.py"]);
    expect(r.status).toBe(0);
    const recs = r.records();
    expect(recs.at(-1)).toMatchObject({ type: "end", unparsed: 0, lost: 0, complete: true });
    const c = calls(recs);
    const created = c.filter((x) => x.syscall === "openat" && x.op === "create").map((x) => x.path);
    const d = tmp + "/h/";
    expect(created).toEqual([d + "a\nb", d + "t\tx\udcff", d + long]);
    expect(c.filter((x) => x.syscall === "execve" && x.ok).at(-1)).toMatchObject({ path: "/bin/true", argv: ["true", "x\ny", "\udcff\t"] });
  }, 60000);

  containerCases("ebpf");

  it("events the ring had no room for: counted in the end record, the run incomplete, a warning", () => {
    // a 1 MB ring drained once a second, never early: a walk of /usr/share overflows it
    const r = ebpf(["--", "/usr/bin/find", "/usr/share", "-name", "*.h"], { LEASTPRIV_EBPF_RING_MB: "1", LEASTPRIV_EBPF_TICK_MS: "1000", LEASTPRIV_EBPF_WAKE_MARK: String(1 << 20) });
    expect(r.status).toBe(0);
    const end = r.records().at(-1);
    expect(end.lost).toBeGreaterThan(0);
    expect(end).toMatchObject({ type: "end", complete: false, lostKinds: { events: end.lost } });
    expect(end.incomplete).toContain(`lost ${end.lost} events`);
    expect(r.stderr).toMatch(/ebpf lost \d+ events: the trace is incomplete/);
    const bad = ebpf(["--", "true"], { LEASTPRIV_EBPF_RING_MB: "3" });
    expect(bad.status).toBe(125);
    expect(bad.stderr).toBe("trace-run: LEASTPRIV_EBPF_RING_MB wants a positive whole number that is a power of 2, not '3'\n");
  }, 60000);

  it("a reader downstream that takes nothing for a while: the loader holds the trace (LEASTPRIV_EBPF_HOLD_MB), or counts what it could not", () => {
    // trace-run waits for its stdout, and reads no more from the loader: with a ring of 1 MB, the walk
    // is held whole by the loader's 64 MB; held in 1 MB, most of it is lost, and the end record says so
    const walk = (hold: string) => {
      const line = ["LEASTPRIV_EBPF_RING_MB=1", `LEASTPRIV_EBPF_HOLD_MB=${hold}`, process.execPath, ROOT + "dist/commands/trace-run.js",
        "--backend", "ebpf", "--", "/usr/bin/find", "/usr", "-name", "'*.h'"].join(" ");
      const r = spawnSync("sh", ["-c", `env ${line} 2>/dev/null | (sleep 3; tail -n 1)`], { encoding: "utf8" });
      return JSON.parse(r.stdout);
    };
    const held = walk("64");
    expect(held).toMatchObject({ type: "end", exit: 0, lost: 0, complete: true });
    // (more records than the ring, the pipes and trace-run's own MB could have held)
    expect(held.records).toBeGreaterThan(100000);
    const cut = walk("1");
    expect(cut.lost).toBeGreaterThan(0);
    expect(cut).toMatchObject({ type: "end", exit: 0, complete: false });
    expect(cut.incomplete).toContain(`lost ${cut.lost} events`);
    const bad = ebpf(["--", "true"], { LEASTPRIV_EBPF_HOLD_MB: "65537" });
    expect(bad.status).toBe(125);
    expect(bad.stderr).toBe("trace-run: LEASTPRIV_EBPF_HOLD_MB wants a positive whole number of at most 65536, not '65537'\n");
    const late = ebpf(["--", "true"], { LEASTPRIV_EBPF_BATCH_MS: "-1" });
    expect(late.status).toBe(125);
    expect(late.stderr).toBe("trace-run: LEASTPRIV_EBPF_BATCH_MS wants a whole number, not '-1'\n");
    expect(ebpf(["--", "true"], { LEASTPRIV_EBPF_BATCH_MS: "0" }).records().at(-1)).toMatchObject({ type: "end", exit: 0, complete: true });
  }, 60000);

  it("refuses what is for the strace backend", () => {
    for (const args of [["-p", "1"], ["--cost", "--", "true"], ["--all-syscalls", "--", "true"]]) {
      const r = ebpf(args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/strace backend/);
    }
  });
});
