// Every form of strace output the parser must handle, checked on real captures (test/fixtures/strace,
// made by capture.sh beside them).
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { calls, fixture, fixtureLines, fixtureNames, FIX, parseText } from "../helpers.js";
import type { ExitRecord, SignalRecord, SyscallRecord, TraceRecord } from "../../lib/io/records.js";

const byType = (recs: TraceRecord[], t: string) => recs.filter((r) => r.type === t);

describe("every captured fixture", () => {
  // a call line, told by a pattern of its own, independent of the parser
  const CALL = /^(\[pid +\d+\] |\d+(<[^>]*>)? +)?( *[\d:.]+ +)?(\[ *\d+\] )?(\[[0-9a-f?]+\] )?[a-z0-9_?]+\(/;
  for (const name of fixtureNames()) {
    it(`${name}: every line understood, every call accounted for`, () => {
      const recs = fixture(name);
      expect(recs.filter((r) => r.type === "unparsed")).toEqual([]);
      const lines = fixtureLines(name);
      const started = lines.filter((l) => CALL.test(l)).length;       // whole calls and unfinished halves
      const noStart = calls(recs).filter((r) => r.incomplete === "no-start").length;
      expect(calls(recs).length).toBe(started + noStart);
      const resumed = lines.filter((l) => / resumed>/.test(l)).length;
      const noEnd = calls(recs).filter((r) => r.incomplete === "no-end").length;
      const unfinished = lines.filter((l) => /<(unfinished|detached) \.\.\.>$/.test(l)).length;
      expect(unfinished - noEnd).toBe(resumed - noStart);            // the rest were joined in pairs
    });
  }
});

describe("pid prefixes", () => {
  it("strace -f -o: 'PID  ' prefixes", () => {
    const recs = calls(fixture("pipeline.strace"));
    expect(new Set(recs.map((r) => r.pid)).size).toBeGreaterThanOrEqual(5);
    expect(recs.every((r) => typeof r.pid === "number")).toBe(true);
  });
  it("single process: no prefix, pid null", () => {
    const recs = calls(fixture("single.strace"));
    expect(recs.every((r) => r.pid === null)).toBe(true);
    expect(recs[0].syscall).toBe("execve");
  });
  it("strace -ff files: pid from the file name", () => {
    const files = readdirSync(FIX + "ff").sort();
    expect(files.length).toBe(3);
    const recs = files.flatMap((f) => parseText(readFileSync(FIX + "ff/" + f), {}, f, Number(f.split(".")[1])));
    const pids = new Set(calls(recs).map((r) => r.pid));
    expect([...pids].sort()).toEqual(files.map((f) => Number(f.split(".")[1])).sort());
  });
  it("-Y: pid<comm> prefixes and pid<comm> values", () => {
    const recs = calls(fixture("decode-comm.strace"));
    expect(recs[0].comm).toBe("strace");
    expect(recs.some((r) => r.comm === "cat" && r.syscall === "openat" && r.args[1] === "hello.txt")).toBe(true);
    const withComm = recs.find((r) => r.syscall === "getpid" || r.syscall === "getppid" || r.syscall === "vfork")!;
    expect(withComm.retfd).toEqual({ pid: withComm.ret, comm: expect.any(String) });
    expect(typeof withComm.ret).toBe("number");
  });
  it("stderr output: [pid N] only while several processes, strace messages spliced into a call", () => {
    const recs = fixture("stderr.strace");
    const info = byType(recs, "info");
    expect(info.map((r) => (r as { text: string }).text)).toContain("strace: Process 2417 attached");
    const clones = calls(recs, "clone");
    expect(clones.length).toBe(4);
    // the spliced clone line is mended: its arguments and result are whole
    expect(clones.every((c) => c.ok === true && typeof c.ret === "number")).toBe(true);
    expect(clones[0].args).toContain("child_tidptr=0x7fcc4ca50a10");
    // the unprefixed lines after the children have gone belong to the one process left
    const last = calls(recs).at(-1)!;
    expect(last.syscall).toBe("exit_group");
    expect(last.pid).not.toBeNull();
  });
});

describe("timestamps", () => {
  it("-t: time of day", () => {
    const r = calls(fixture("t.strace"))[0];
    const [h, m, s] = fixtureLines("t.strace")[0].split(" ")[0].split(":").map(Number);
    expect(r.time).toBe(h * 3600 + m * 60 + s);
  });
  it("-tt with --date gives epoch seconds, and wraps at midnight", () => {
    const recs = calls(fixture("midnight.strace", { date: "2026-11-27" }));
    const base = new Date(2026, 10, 27).getTime() / 1000;
    expect(recs[0].time).toBeCloseTo(base + 86399.004006, 5);
    const last = recs.at(-1)!;
    expect(last.time! - base).toBeGreaterThan(86400);      // after midnight: the next day
    // records come out as calls complete; an unfinished call keeps the time it started
    for (const r of recs) expect(r.time!).toBeGreaterThanOrEqual(recs[0].time!);
  });
  it("-ttt and -T", () => {
    const r = calls(fixture("ttt.strace"))[0];
    expect(r.time).toBe(1795862832.098498);
    expect(r.dur).toBe(0.001269);
  });
  it("--absolute-timestamps=unix,ns", () => {
    const r = calls(fixture("unix-ns.strace"))[0];
    expect(r.time).toBeCloseTo(1795862832.186146883, 5);
    expect(r.dur).toBe(0.000788);
  });
  it("-r: relative stamps accumulate from 0", () => {
    const recs = calls(fixture("r.strace"));
    expect(recs[0].time).toBe(0);
    expect(recs[1].time).toBe(0.001287);
    expect(recs[2].time).toBe(0.001884);
  });
});

describe("-y and -yy annotations", () => {
  it("fd paths, AT_FDCWD<dir> and returned fds", () => {
    const recs = calls(fixture("pipeline.strace"));
    const open = recs.find((r) => r.syscall === "openat" && r.path === "/tmp/leastpriv-capture/hello.txt")!;
    expect(open.args[0]).toEqual({ fd: "AT_FDCWD", path: "/tmp/leastpriv-capture" });
    expect(open.retfd).toEqual({ fd: open.ret, path: "/tmp/leastpriv-capture/hello.txt" });
    const read = recs.find((r) => r.syscall === "read" && r.path === "/tmp/leastpriv-capture/hello.txt")!;
    expect(read).toMatchObject({ kind: "file", op: "read", fd: open.ret });
  });
  it("TCP peers from -yy, and char devices", () => {
    const recs = calls(fixture("net-tcp.strace"));
    const send = recs.find((r) => r.syscall === "sendto")!;
    expect(send).toMatchObject({ kind: "net", op: "send", addr: { family: "inet", proto: "TCP", ip: "127.0.0.1" } });
    const devnull = calls(fixture("pipeline.strace")).find((r) => r.syscall === "openat" && r.path === "/dev/null")!;
    expect(devnull.retfd).toEqual({ fd: devnull.ret, path: "/dev/null", dev: "char 1:3" });
  });
  it("inode-only sockets in another network namespace still get their peers", () => {
    const recs = calls(fixture("net-netns.strace"));
    const send = recs.filter((r) => r.syscall === "sendto" && r.addr?.proto === "TCP");
    expect(send[0].args[0]).toEqual({ fd: 4, sock: { proto: "TCP", inode: expect.any(Number) } });
    expect(send[0].addr).toMatchObject({ ip: "127.0.0.1", port: expect.any(Number) });
    expect(send[0].addr?.inode).toBeUndefined();
  });
  it("unix sockets: path, abstract name; UDP over IPv6", () => {
    const recs = calls(fixture("net-unix.strace"));
    expect(recs.find((r) => r.syscall === "connect")!.addr).toEqual({ family: "unix", proto: "UNIX-STREAM", path: "/tmp/leastpriv-capture/sock" });
    expect(recs.filter((r) => r.syscall === "bind").at(-1)!.addr).toMatchObject({ family: "unix", abstract: "leastpriv-abstract" });
    const udp = calls(fixture("net-udp6.strace")).find((r) => r.syscall === "sendto")!;
    expect(udp.addr).toMatchObject({ family: "inet6", ip: "::1", port: expect.any(Number) });
    expect(udp.args[4]).toMatchObject({ sa_family: "AF_INET6", sin6_addr: "::1", sin6_flowinfo: 0 });
  });
});

describe("the other -yy suffixes (fd-kinds.strace, tmpfile.strace)", () => {
  const recs = calls(fixture("fd-kinds.strace"));
  const on = (fd: number, name: string) => recs.filter((r) => r.fd === fd && r.syscall === name);
  it("O_TMPFILE: '3</tmp/#N>(deleted)' is one value, marked deleted, never a path '…/(deleted)' or an argument", () => {
    const t = calls(fixture("tmpfile.strace"));
    const open = t.find((r) => r.syscall === "openat" && /O_TMPFILE/.test(String(r.args[2])))!;
    expect(open.retfd).toEqual({ fd: open.ret, path: expect.stringMatching(/^\/tmp\/#\d+$/), deleted: true });
    expect(open.retnote).toBeUndefined();
    const fstat = t.slice(t.indexOf(open)).filter((r) => r.fd === open.ret && r.syscall === "newfstatat");
    expect(fstat.length).toBeGreaterThan(0);
    for (const r of fstat) {
      expect(r).toMatchObject({ path: (open.retfd as { path: string }).path, deleted: true, ok: true });
      expect(r.args).toEqual([{ fd: open.ret, path: (open.retfd as { path: string }).path, deleted: true }, "", expect.any(Object), "AT_EMPTY_PATH"]);
    }
    expect(t.some((r) => r.args.includes("(deleted)") || /\(deleted\)/.test(r.path ?? ""))).toBe(false);
  });
  it("an unlinked file still open: its old name, marked deleted", () => {
    const unlink = recs.find((r) => r.syscall === "unlink")!;
    const open = recs.find((r) => r.syscall === "openat" && r.path === unlink.path)!;
    expect(open.retfd).toEqual({ fd: open.ret, path: unlink.path });
    expect(on(open.ret as number, "write")[0]).toMatchObject({ kind: "file", op: "write", path: unlink.path, deleted: true, args: [{ fd: open.ret, path: unlink.path, deleted: true }, "x", 1] });
  });
  it("a path annotation holding brackets: '[' is a name's, not a socket's [a->b] (bracket.strace)", () => {
    const b = calls(fixture("bracket.strace"));
    const open = b.find((r) => r.syscall === "openat" && r.args[1] === "a[b")!;
    expect(open.retfd).toEqual({ fd: 3, path: "/tmp/leastpriv-capture/a[b" });
    expect(b.slice(b.indexOf(open) + 1).filter((r) => r.fd === 3).map((r) => [r.syscall, r.path, r.ok])).toEqual([["newfstatat", "/tmp/leastpriv-capture/a[b", true],
      ["read", "/tmp/leastpriv-capture/a[b", true], ["read", "/tmp/leastpriv-capture/a[b", true], ["close", "/tmp/leastpriv-capture/a[b", true]]);
  });
  it("memfd: memory with a name, not a file", () => {
    const m = recs.find((r) => r.syscall === "memfd_create")!;
    expect(m.retfd).toEqual({ fd: m.ret, path: "/memfd:leastpriv", deleted: true });
    const w = on(m.ret as number, "write")[0];
    expect(w).toMatchObject({ kind: "ipc", op: "write" });
    expect(w.path).toBeUndefined();
    expect(on(m.ret as number, "newfstatat")[0].path).toBeUndefined();
  });
  it("anon_inode objects, pidfds, pipes and block devices", () => {
    expect(recs.find((r) => r.syscall === "eventfd2")!.retfd).toEqual({ fd: expect.any(Number), obj: "anon_inode:[eventfd]" });
    expect(recs.find((r) => r.syscall === "epoll_create1" && r.fd === undefined && r.ret === 7)!.retfd).toEqual({ fd: 7, obj: "anon_inode:[eventpoll]" });
    expect(recs.find((r) => r.syscall === "pidfd_open")!.retfd).toEqual({ fd: expect.any(Number), obj: expect.stringMatching(/^pid:\d+$/) });
    const pipe = recs.find((r) => r.syscall === "pipe2")!;
    expect(pipe.args[0]).toEqual([{ fd: expect.any(Number), obj: expect.stringMatching(/^pipe:\[\d+\]$/) }, { fd: expect.any(Number), obj: expect.stringMatching(/^pipe:\[\d+\]$/) }]);
    const w = recs.find((r) => r.syscall === "write" && r.fd === (pipe.args[0] as { fd: number }[])[1].fd)!;
    expect(w).toMatchObject({ kind: "ipc", op: "write" });
    const loop = recs.find((r) => r.syscall === "openat" && r.path === "/dev/loop0")!;
    expect(loop.retfd).toEqual({ fd: loop.ret, path: "/dev/loop0", dev: "block 7:0" });
  });
  it("sockets of each family: their protocol, and netlink's protocol without its per-run port id", () => {
    const sock = (family: string) => recs.filter((r) => r.syscall === "socket" && r.args[0] === family).map((r) => r.retfd);
    expect(sock("AF_INET")).toEqual([{ fd: 13, sock: { proto: "TCP", inode: expect.any(Number) } }, { fd: 13, sock: { proto: "UDP", inode: expect.any(Number) } },
      { fd: 13, sock: { proto: "RAW", inode: expect.any(Number) } }]);
    expect(sock("AF_INET6")).toEqual([{ fd: 13, sock: { proto: "TCPv6", inode: expect.any(Number) } }, { fd: 13, sock: { proto: "UDPv6", inode: expect.any(Number) } }]);
    expect(sock("AF_UNIX").map((x) => (x as { sock: { proto: string } }).sock.proto)).toEqual(["UNIX-STREAM", "UNIX", "UNIX"]);
    expect(sock("AF_PACKET")).toEqual([{ fd: 13, obj: expect.stringMatching(/^socket:\[\d+\]$/) }]);
    const nl = recs.find((r) => r.syscall === "socket" && r.args[0] === "AF_NETLINK")!;
    expect(nl.addr).toEqual({ family: "netlink", proto: "NETLINK", netlink: "ROUTE" });
    const send = recs.find((r) => r.syscall === "sendto" && r.fd === nl.ret)!;
    expect(send.args[0]).toEqual({ fd: nl.ret, sock: { proto: "NETLINK", netlink: "ROUTE", portid: expect.any(Number) } });
    expect(send.addr).toEqual({ family: "netlink", proto: "NETLINK", netlink: "ROUTE" });
    const pair = recs.find((r) => r.syscall === "socketpair")!;
    expect(pair.args[3]).toEqual([{ fd: 13, sock: { proto: "UNIX-STREAM", inode: expect.any(Number), peerInode: expect.any(Number) } },
      { fd: 14, sock: { proto: "UNIX-STREAM", inode: expect.any(Number), peerInode: expect.any(Number) } }]);
  });
});

describe("unfinished and resumed", () => {
  it("joined into one record while other pids interleave", () => {
    const recs = calls(fixture("pipeline.strace"));
    const lines = fixtureLines("pipeline.strace");
    const wait = lines.findIndex((l) => l.includes("wait4(-1,  <unfinished ...>"));
    expect(wait).toBeGreaterThan(0);
    const joined = recs.filter((r) => r.syscall === "wait4" && r.ok);
    expect(joined.length).toBeGreaterThan(0);
    expect(joined[0].args[0]).toBe(-1);
    expect(joined[0].args[1]).toEqual([{ "#0": "WIFEXITED(s) && WEXITSTATUS(s) == 0" }]);
  });
  it("the call's time is its start; -T duration from the resumed line", () => {
    const recs = calls(fixture("pipeline.strace"));
    const lines = fixtureLines("pipeline.strace");
    const i = lines.findIndex((l) => / wait4\(-1,  <unfinished/.test(l));
    const [pid, ts] = lines[i].split(/ +/);
    const rec = recs.find((r) => r.syscall === "wait4" && r.pid === Number(pid) && r.ok)!;
    const [h, m, s] = ts.split(":").map(Number);
    expect(rec.time).toBeCloseTo(h * 3600 + m * 60 + s, 6);
    expect(rec.dur).toBeGreaterThan(0);
  });
  it("a detached call and a call cut off by the detach are reported as orphans", () => {
    const recs = calls(fixture("attach.strace"));
    const orphans = recs.filter((r) => r.incomplete === "no-end");
    expect(orphans.length).toBeGreaterThanOrEqual(1);
    expect(orphans.some((r) => r.detached)).toBe(true);
    expect(orphans.every((r) => r.ok === null)).toBe(true);
  });
  it("a resumed half with no start is kept, marked no-start", () => {
    // a real capture with one call's first half cut away, as when a log starts mid-way
    const lines = fixtureLines("pipeline.strace");
    const cut = lines.findIndex((l) => / wait4\(-1,  <unfinished/.test(l));
    const [pid] = lines[cut].split(" ");
    const r = calls(parseText(lines.filter((_, i) => i !== cut).join("\n") + "\n"));
    const orphan = r.find((x) => x.incomplete === "no-start")!;
    expect(orphan).toMatchObject({ syscall: "wait4", pid: Number(pid), ok: true, ret: expect.any(Number) });
    expect(orphan.path).toBeUndefined();
  });
  it("superseded by execve: a thread's exec resumes under the leader's pid", () => {
    const recs = fixture("thread-exec.strace");
    const sup = byType(recs, "exit").find((r) => (r as ExitRecord).supersededBy) as ExitRecord;
    expect(sup).toMatchObject({ pid: 2481, supersededBy: 2482 });
    const exec = calls(recs, "execve").find((r) => r.path === "/bin/true")!;
    expect(exec).toMatchObject({ pid: 2481, ok: true, argv: ["true"] });
    expect(calls(recs).filter((r) => r.incomplete)).toEqual([]);
  });
});

describe("signals, exits, interrupted calls", () => {
  it("signals with siginfo, stopped by SIGSTOP, killed by a signal, restart_syscall", () => {
    const recs = fixture("stop-cont.strace");
    const sigs = byType(recs, "signal") as SignalRecord[];
    expect(sigs.map((s) => s.signal)).toEqual(["SIGSTOP", "SIGSTOP", "SIGCONT", "SIGTERM"]);
    expect(sigs[1].stopped).toBe(true);
    expect(sigs[0].info).toMatchObject({ si_signo: "SIGSTOP", si_code: "SI_USER" });
    expect(byType(recs, "exit")).toEqual([{ type: "exit", pid: expect.any(Number), time: expect.any(Number), signal: "SIGTERM", core: false }]);
    const rs = calls(recs, "restart_syscall");
    expect(rs[0]).toMatchObject({ ret: null, errno: "ERESTART_RESTARTBLOCK", interrupted: true, ok: null });
  });
  it("killed by SIGSEGV (core dumped)", () => {
    expect(byType(fixture("segv.strace"), "exit")[0]).toMatchObject({ signal: "SIGSEGV", core: true });
  });
  it("= ? ERESTARTSYS and = ? for exit", () => {
    // every process of the pipeline ended with exit_group, which returns nothing: "= ?"
    const recs = fixture("pipeline.strace");
    const exits = calls(recs, "exit_group");
    expect(exits.length).toBe(byType(recs, "exit").length);
    expect(exits.length).toBeGreaterThan(1);
    expect(exits.map((r) => [r.ret, r.ok])).toEqual(exits.map(() => [null, null]));
    const reads = calls(fixture("erestartsys.strace"), "read").filter((r) => r.fd === 3 && (r.ret === null || r.args[1] === "x"));
    expect(reads[0]).toMatchObject({ ret: null, errno: "ERESTARTSYS", errmsg: "To be restarted if SA_RESTART is set", interrupted: true, ok: null });
    expect(reads[1]).toMatchObject({ ret: 1, ok: true, args: [3, "x", 1] });     // the restarted read
  });
  it("execveat, vfork, clone3 with => out-values", () => {
    const ex = calls(fixture("execveat.strace"), "execveat")[0];
    expect(ex).toMatchObject({ kind: "exec", op: "exec", argv: ["true"], ok: true, fd: 3 });
    const recs = calls(fixture("vfork-clone3.strace"));
    const c3 = recs.find((r) => r.syscall === "clone3")!;
    expect(c3.args[0]).toMatchObject({ in: { flags: expect.stringContaining("CLONE_THREAD") }, out: { parent_tid: [c3.ret] } });
    const vf = recs.find((r) => r.syscall === "vfork")!;
    expect(vf).toMatchObject({ kind: "proc", op: "fork", ok: true });
    // the child's calls follow, under its own pid
    expect(recs.some((r) => r.pid === vf.ret && r.syscall === "execve")).toBe(true);
  });
  it("[128 => 16] in/out values", () => {
    const g = calls(fixture("net-tcp.strace"), "getsockname").find((r) => JSON.stringify(r.args[2]).includes("in"))!;
    expect(g.args[2]).toEqual([{ in: 128, out: 16 }]);
  });
  it("return suffixes: (Timeout), (flags …), (in […]), (INJECTED), PID NS comments", () => {
    const s = calls(fixture("suffixes.strace"));
    // each note on the call it ends, the result before it a value of its own
    expect(s.find((r) => r.retnote === "Timeout")).toMatchObject({ syscall: "pselect6", ret: 0, ok: true, args: [0, null, null, null, { tv_sec: 0, tv_nsec: 10000000 }, null] });
    expect(s.find((r) => r.retnote === "flags O_RDONLY")).toMatchObject({ syscall: "fcntl", ret: 0, ok: true, args: [3, "F_GETFL"] });
    expect(s.find((r) => r.retnote?.startsWith("in [3], left"))).toMatchObject({ syscall: "pselect6", ret: 1, ok: true, retnote: "in [3], left {tv_sec=0, tv_nsec=999995853}" });
    const inj = calls(fixture("inject.strace"));
    expect(inj.find((r) => r.syscall === "getpid")).toMatchObject({ ret: 42, injected: true });
    expect(inj.find((r) => r.errno === "EACCES")).toMatchObject({ injected: true, errmsg: "Permission denied", ok: false });
    const ns = calls(fixture("pidns.strace"), "getpid")[0];
    expect(ns).toMatchObject({ ret: 1, retnote: "23796 in strace's PID NS" });
  });
});

describe("other strace output", () => {
  it("-n and -i prefixes", () => {
    const r = calls(fixture("n-i.strace"))[0];
    expect(r).toMatchObject({ syscall: "execve", path: "/usr/bin/cat" });
  });
  it("-e read= / -e write= hex dumps attach to their call", () => {
    const recs = calls(fixture("hexdump.strace"));
    const withData = recs.filter((r) => r.data);
    expect(withData.length).toBeGreaterThan(0);
    for (const r of withData) expect(r.data!.length / 2).toBe(r.ret);
    expect(Buffer.from(withData[0].data!, "hex").subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  });
  it("-k stack frames attach to their call", () => {
    const recs = calls(fixture("stack.strace"));
    expect(recs.length).toBeGreaterThan(0);
    expect(recs.every((r) => (r.stack?.length ?? 0) > 0)).toBe(true);
    expect(recs[0].stack![0]).toMatch(/\[0x[0-9a-f]+\]$/);
  });
  it("-c and -C summary tables become count records", () => {
    const c = fixture("summary-c.strace").filter((r) => r.type === "count");
    expect(c.length).toBe(37);
    expect(c.find((r) => (r as { syscall: string }).syscall === "wait4")).toMatchObject({ calls: 4, errors: 2, seconds: 0.00507, percent: 54.38 });
    expect(c.at(-1)).toMatchObject({ total: true, calls: 362, errors: 59 });
    const C = fixture("summary-C.strace");
    expect(calls(C).length).toBeGreaterThan(50);
    expect(C.filter((r) => r.type === "count").length).toBeGreaterThan(5);
  });
});

describe("capability sets", () => {
  it("1<<CAP_X shifts are values, not annotations", () => {
    const recs = calls(fixture("capabilities.strace"));
    const set = recs.find((r) => r.syscall === "capset")!;
    expect(set).toMatchObject({ kind: "cred", op: "capset", ok: true });
    expect((set.args[1] as { effective: string }).effective).toMatch(/^1<<CAP_CHOWN\|1<<CAP_DAC_OVERRIDE\|/);
    expect(recs[0].args[0]).toEqual({ version: { value: 0, comment: "_LINUX_CAPABILITY_VERSION_???" }, pid: 0 });
  });
});

describe("strings", () => {
  it("every C escape", () => {
    const w = calls(fixture("escapes.strace"), "write")[0];
    expect(w.args[1]).toBe('a\tb\nc\\d"e\x01\x7f\udcff\r\v\f\x07\x08');
  });
  it("truncated strings are marked", () => {
    const w = calls(fixture("truncated.strace"), "write")[0];
    expect(w.args[1]).toEqual({ str: "a long l", truncated: true });
  });
  it("-xx and -x hex strings", () => {
    const o = calls(fixture("strings-xx.strace"), "openat")[0];
    expect(o.path).toBe("/etc/ld.so.cache");
    const w = calls(fixture("strings-x.strace"), "write")[0];
    expect(w.args[1]).toBe("é\x01\n");
  });
  it("paths with newline, quotes, backslash, tab, <>, and bytes that are not UTF-8", () => {
    const del = calls(fixture("weird-names.strace"), "unlink").map((r) => r.path);
    expect(del).toEqual([
      "/tmp/leastpriv-capture/new\nline", '/tmp/leastpriv-capture/quote"and\\back', "/tmp/leastpriv-capture/latin1-\udce9",
      "/tmp/leastpriv-capture/utf8-é", "/tmp/leastpriv-capture/tab\there", "/tmp/leastpriv-capture/lt<gt>",
    ]);
    // the -y annotation escapes < and >; decoded, it is the same path
    const closes = calls(fixture("weird-names.strace"), "close").filter((r) => r.path?.includes("lt<gt>"));
    expect(closes.length).toBe(1);
  });
  it("-X raw, -X verbose, -v", () => {
    const raw = calls(fixture("X-raw.strace"), "openat")[0];
    expect(raw).toMatchObject({ op: "read", args: [-100, "/etc/ld.so.cache", "0x80000"] });
    const verbose = calls(fixture("X-verbose.strace"), "openat")[0];
    expect(verbose.args[2]).toEqual({ value: "0x80000", comment: "O_RDONLY|O_CLOEXEC" });
    expect(verbose.path).toBe("/etc/ld.so.cache");
    const v = calls(fixture("v.strace"));
    expect(v[0].args[2]).toEqual(["PATH=/usr/bin:/bin", "LANG=C"]);
    const st = v.find((r) => r.syscall === "newfstatat" && r.ok)!;
    expect(st.args[2]).toMatchObject({ st_dev: "makedev(0xfe, 0)", st_mode: "S_IFREG|0644" });
  });
});

describe("path resolution", () => {
  it("chdir, fchdir, dirfd-relative calls and .. with a known cwd", () => {
    const recs = calls(fixture("chdir.strace", { cwd: "/tmp/leastpriv-capture" }));
    const chdir = recs.find((r) => r.syscall === "chdir")!;
    expect(chdir.path).toBe("/tmp/leastpriv-capture/sub");
    expect(recs.find((r) => r.syscall === "openat" && r.args[1] === "../hello.txt")!.path).toBe("/tmp/leastpriv-capture/hello.txt");
    expect(recs.find((r) => r.syscall === "newfstatat" && r.args[1] === "hostname")!.path).toBe("/etc/hostname");
    expect(recs.find((r) => r.syscall === "newfstatat" && r.args[1] === "sub/../hello.txt")!.path).toBe("/tmp/leastpriv-capture/hello.txt");
    const ren = recs.filter((r) => r.syscall === "rename");
    expect(ren[1]).toMatchObject({ path: "/tmp/leastpriv-capture/h2.txt", path2: "/tmp/leastpriv-capture/hello.txt" });
  });
  it("an unknown cwd is said, not guessed", () => {
    const recs = calls(fixture("chdir.strace"));
    const open = recs.find((r) => r.syscall === "openat" && r.args[1] === "../hello.txt")!;
    expect(open).toMatchObject({ path: "../hello.txt", cwdUnknown: true });
  });
  it("cwd inherited across fork; -y tells the cwd of a log that starts mid-way", () => {
    const recs = calls(fixture("pipeline.strace"));
    const ls = recs.find((r) => r.syscall === "openat" && r.args[1] === "..")!;
    expect(ls.path).toBe("/tmp/leastpriv-capture");
    const att = calls(fixture("attach.strace"));
    const cat = att.find((r) => r.syscall === "openat" && r.args[1] === "../hello.txt")!;
    expect(cat.path).toBe("/tmp/leastpriv-capture/hello.txt");
  });
  it("fd table without -y: reads and writes get the path opened", () => {
    const t = calls(fixture("t.strace"));
    const open = t.find((r) => r.syscall === "openat" && r.args[1] === "hello.txt")!;
    expect(open.cwdUnknown).toBe(true);
    const after = t.slice(t.indexOf(open));
    const read = after.find((r) => r.syscall === "read" && r.fd === open.ret && r.ok)!;
    expect(read).toMatchObject({ kind: "file", op: "read", path: "hello.txt", cwdUnknown: true });
    const close = after.find((r) => r.syscall === "close" && r.fd === open.ret)!;
    expect(close.path).toBe("hello.txt");
  });
});

describe("classification", () => {
  const ops = (recs: SyscallRecord[], path: string) => recs.filter((r) => r.path === path).map((r) => `${r.syscall}:${r.kind}/${r.op}`);
  it("file operations of a shell pipeline", () => {
    const recs = calls(fixture("pipeline.strace"));
    expect(ops(recs, "/tmp/leastpriv-capture/sub/made")).toEqual(expect.arrayContaining(["mkdir:file/mkdir", "renameat2:file/rename"]));
    expect(recs.find((r) => r.syscall === "renameat2")!.path2).toBe("/tmp/leastpriv-capture/sub/made2");
    expect(ops(recs, "/tmp/leastpriv-capture/sub/made2")).toContain("rmdir:file/delete");
    const sym = recs.find((r) => r.syscall === "symlinkat" || r.syscall === "symlink")!;
    expect(sym).toMatchObject({ op: "symlink", path: "/tmp/leastpriv-capture/sub/link", path2: "../hello.txt" });
    expect(recs.find((r) => r.syscall === "openat" && r.path === "/dev/null")!.op).toBe("create");
    expect(recs.find((r) => r.syscall === "openat" && r.path === "/tmp/leastpriv-capture")!.op).toBe("list");
    expect(recs.filter((r) => r.kind === "exec" && r.ok).map((r) => r.path)).toEqual(
      expect.arrayContaining(["/usr/bin/sh", "/usr/bin/cat", "/usr/bin/wc", "/usr/bin/ls", "/usr/bin/mkdir", "/usr/bin/mv", "/usr/bin/rmdir", "/usr/bin/ln", "/usr/bin/rm"]));
    expect(recs.find((r) => r.syscall === "pipe2")!.kind).toBe("ipc");
    const catPid = recs.find((x) => x.syscall === "execve" && x.path === "/usr/bin/cat" && x.ok)!.pid;
    expect(recs.find((r) => r.syscall === "write" && r.fd === 1 && r.pid === catPid)).toMatchObject({ kind: "ipc", op: "write" });
  });
  it("privileged operations", () => {
    const recs = calls(fixture("priv.strace"));
    expect(recs.find((r) => r.syscall === "unshare")).toMatchObject({ kind: "priv", op: "unshare" });
    expect(recs.find((r) => r.syscall === "mount" && r.path === "/tmp/leastpriv-capture/sub")).toMatchObject({ kind: "priv", op: "mount", ok: true });
    expect(recs.find((r) => r.syscall === "umount2")).toMatchObject({ kind: "priv", op: "umount", path: "/tmp/leastpriv-capture/sub" });
    expect(recs.find((r) => r.syscall === "chroot")).toMatchObject({ kind: "priv", op: "chroot", path: "/" });
    expect(recs.find((r) => r.syscall === "bind")).toMatchObject({ kind: "net", op: "bind", addr: { family: "inet", ip: "127.0.0.1", port: 80 } });
  });
  it("a denied open as nobody", () => {
    const recs = calls(fixture("user-nobody.strace"));
    expect(recs.find((r) => r.path === "/etc/shadow")).toMatchObject({ kind: "file", op: "read", ok: false, errno: "EACCES" });
  });
});
