// The bpftrace backend's reader, on output that real bpftrace 0.17 printed (test/fixtures/bpftrace,
// made by capture.sh beside them): leastpriv's own program, and bpftrace's opensnoop, execsnoop and
// tcpconnect tools.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { BpfAssembler, decode, errnoOf, ipv6, printfData } from "../../lib/bpf/bpftrace.js";
import { BPF_CALLS, bpfProgram, callsByNumber } from "../../lib/bpf/program.js";
import { LineSplitter } from "../../lib/io/lines.js";
import { SnoopReader } from "../../lib/bpf/snoop.js";
import { readAll } from "../../lib/trace/reader.js";
import { sniff } from "../../lib/run/parse.js";
import { RuntimeMarks } from "../../lib/run/container.js";
import { childPid } from "../../lib/trace/resolver.js";
import { calls, ROOT } from "../helpers.js";
import type { ExitRecord, SyscallRecord, TraceRecord } from "../../lib/io/records.js";

const BFIX = ROOT + "test/fixtures/bpftrace/";
const WORK = "/tmp/leastpriv-capture-bpf";

function lines(name: string): { text: string; no: number; fullLength?: number }[] {
  const split = new LineSplitter();
  return [...split.push(readFileSync(BFIX + name)), ...split.end()];
}

function bpf(name: string, order?: (ls: ReturnType<typeof lines>) => ReturnType<typeof lines>): TraceRecord[] {
  const out: TraceRecord[] = [];
  const asm = new BpfAssembler((r) => out.push(r));
  asm.startFile(name);
  let ls = lines(name);
  if (order) ls = order(ls);
  for (const l of ls) asm.line(l.text, l.no, l.fullLength);
  asm.end();
  return out;
}

const paths = (recs: SyscallRecord[]) => recs.map((r) => r.path);

describe("leastpriv's bpftrace program: the reader", () => {
  it("a shell pipeline: execs with argv, paths made absolute from the ready line's cwd and chdir, results", () => {
    const recs = bpf("pipeline.out");
    expect(recs.filter((r) => r.type === "unparsed")).toEqual([]);
    const c = calls(recs);
    const execs = c.filter((r) => r.kind === "exec" && r.ok);
    expect(execs.map((r) => r.argv)).toContainEqual(["cat", "hello.txt", "/etc/hostname"]);
    expect(execs.map((r) => r.path)).toContain("/usr/bin/cat");
    // opened by the relative name "hello.txt" in the starting directory
    const open = c.find((r) => r.syscall === "openat" && r.args[1] === "hello.txt")!;
    expect(open.path).toBe(`${WORK}/hello.txt`);
    expect(open.op).toBe("read");
    expect(open.args[2]).toBe("O_RDONLY");
    // after "cd sub": mkdir made, mv made made2, rmdir made2, ln -s ../hello.txt link, rm link
    expect(paths(c.filter((r) => r.op === "mkdir"))).toContain(`${WORK}/sub/made`);
    const mv = c.find((r) => r.op === "rename")!;
    expect([mv.path, mv.path2]).toEqual([`${WORK}/sub/made`, `${WORK}/sub/made2`]);
    const ln = c.find((r) => r.op === "symlink")!;
    expect([ln.path, ln.path2]).toEqual([`${WORK}/sub/link`, "../hello.txt"]);
    expect(paths(c.filter((r) => r.op === "delete"))).toEqual(expect.arrayContaining([`${WORK}/sub/made2`, `${WORK}/sub/link`]));
    const chmod = c.find((r) => r.op === "chmod")!;
    expect(chmod.path).toBe(`${WORK}/hello.txt`);
    expect(chmod.args).toContain("0600");
    const failed = c.find((r) => r.path === "/nonexistent" && r.syscall === "openat")!;
    expect([failed.ok, failed.errno, failed.errmsg, failed.ret]).toEqual([false, "ENOENT", "No such file or directory", -1]);
    // the ls in sub/ read its parent: the directory, listed
    expect(c.some((r) => r.path === WORK && r.op === "list")).toBe(true);
    // every process forked is seen to exit, with its status
    const exits = recs.filter((r): r is ExitRecord => r.type === "exit");
    const forks = c.filter((r) => r.op === "fork" && r.ok);
    expect(exits.length).toBe(forks.length + 1);
    // all exit 0 but the cat of /nonexistent, which exits 1
    expect(exits.filter((e) => e.code !== 0).map((e) => [e.pid, e.code])).toEqual([[failed.pid, 1]]);
    // times in epoch seconds, from the ready line's clock
    expect(c[0].time!).toBeGreaterThan(1.7e9);
    expect(c.every((r, i) => i === 0 || r.time! >= c[i - 1].time!)).toBe(true);
  });

  it("lines of different CPUs arriving out of order are put back in kernel time order", () => {
    const inOrder = bpf("pipeline.out");
    // as if several CPUs' buffers were read in turns: a line's "+" pieces follow it, but other lines may
    // come between them, and the events of a block of lines arrive in another order. (The ready line
    // stays first and bpftrace's closing line last: they are not CPU events.)
    const shuffled = bpf("pipeline.out", (ls) => {
      const is = (l: (typeof ls)[number], t: string) => printfData(l.text)?.startsWith(t + "\t");
      const first = ls.findIndex((l) => is(l, "R")) + 1, last = ls.findIndex((l) => printfData(l.text)?.startsWith("Q"));
      const groups: (typeof ls)[] = [];
      for (const l of ls.slice(first, last)) {
        if (is(l, "+") && groups.length) groups[groups.length - 1].push(l);
        else groups.push([l]);
      }
      const out: typeof ls = ls.slice(0, first);
      for (let i = 0; i < groups.length; i += 20) {
        const block = [...groups.slice(i, i + 20).filter((_, k) => k % 2 === 1), ...groups.slice(i, i + 20).filter((_, k) => k % 2 === 0)];
        for (let k = 0; k < block.length; k += 2) {
          const [a, b] = [block[k], block[k + 1] ?? []];
          out.push(a[0], ...b, ...a.slice(1));          // b's whole event comes between a's line and its pieces
        }
      }
      return [...out, ...ls.slice(last)];
    });
    expect(shuffled.filter((r) => r.type === "unparsed")).toEqual([]);
    expect(shuffled.length).toBe(inOrder.length);
    const key = (r: TraceRecord) => JSON.stringify(r);
    expect(shuffled.map(key)).toEqual(inOrder.map(key));
  });

  it("network: TCP, UDP over IPv6, unix paths and abstract names, sendmsg's address", () => {
    const c = calls(bpf("net.out"));
    const tcp = c.find((r) => r.syscall === "connect" && r.addr?.family === "inet")!;
    expect(tcp.addr).toMatchObject({ family: "inet", proto: "TCP", ip: "127.0.0.1" });
    expect(tcp.addr!.port).toBeGreaterThan(0);
    expect(tcp.args[1]).toMatchObject({ sa_family: "AF_INET", sin_addr: "127.0.0.1" });
    // the accepted client is the peer of the accepting fd, and sends on it go there
    const acc = c.find((r) => r.syscall === "accept4" && r.addr?.family === "inet")!;
    expect(acc.ok).toBe(true);
    expect(c.find((r) => r.syscall === "bind" && r.addr?.family === "inet6")!.addr).toMatchObject({ ip: "::1", proto: "UDPv6" });
    expect(c.find((r) => r.syscall === "sendto" && r.addr?.family === "inet6")!.addr!.ip).toBe("::1");
    expect(c.find((r) => r.syscall === "connect" && r.addr?.family === "unix")!.addr!.path).toBe(`${WORK}/sock`);
    // the abstract name is cut at the length bind was given (no NUL ends it in memory)
    expect(c.find((r) => r.syscall === "bind" && r.addr?.abstract !== undefined)!.addr!.abstract).toBe("leastpriv-abstract");
    // an accepted unix client is unnamed
    const uacc = c.find((r) => r.syscall === "accept4" && r.addr?.family === "unix")!;
    expect(uacc.args[1]).toEqual({ sa_family: "AF_UNIX" });
    const sm = c.find((r) => r.syscall === "sendmsg")!;
    expect(sm.addr).toMatchObject({ family: "inet", proto: "UDP", ip: "127.0.0.1" });
    expect(c.some((r) => r.syscall === "socket" && r.args[0] === "AF_PACKET")).toBe(true);
  });

  it("a thread that execs: the leader's exit is 'superseded', the exec completes under the leader's pid", () => {
    const recs = bpf("threads.out");
    const c = calls(recs);
    const thread = c.find((r) => r.syscall === "clone3" && JSON.stringify(r.args).includes("CLONE_THREAD"))!;
    const leader = thread.pid!;
    const sup = recs.find((r): r is ExitRecord => r.type === "exit" && r.supersededBy !== undefined)!;
    expect(sup.pid).toBe(leader);
    expect(sup.supersededBy).toBe(thread.ret);
    const exec = c.filter((r) => r.syscall === "execve").at(-1)!;
    expect([exec.pid, exec.path, exec.argv, exec.ok]).toEqual([leader, "/bin/true", ["true"], true]);
    // /bin/true, traced after the exec, opens libc
    expect(c.some((r) => r.pid === leader && r.comm === "true" && r.path?.endsWith("libc.so.6"))).toBe(true);
  });

  it("names and arguments that are not plain: a newline, a tab, quotes, bytes that are not UTF-8 keep their records", () => {
    const recs = bpf("names.out");
    expect(recs.filter((r) => r.type === "unparsed")).toEqual([]);
    const c = calls(recs);
    const created = c.filter((r) => r.op === "create").map((r) => r.path!.slice(WORK.length + 1));
    expect(created.sort()).toEqual(["latin1-\udce9", "lt<gt>", "new\nline", 'quote"and\\back', "tab\there", "utf8-é"]);
    expect(c.filter((r) => r.op === "delete").map((r) => r.path!.slice(WORK.length + 1)).sort()).toEqual(created);
    const exec = c.find((r) => r.syscall === "execve" && r.path === "/bin/true")!;
    expect(exec).toMatchObject({ ok: true, argv: ["true", "new\nline", "tab\there", "latin1-\udce9", "utf8-é"] });
    expect(exec.argvTruncated).toBeUndefined();
  });

  it("printfData: every byte a JSON message of bpftrace's escapes comes back, whichever way char is signed", () => {
    const msg = (body: string) => `{"type": "printf", "data": "${body}"}`;
    // x86-64 (signed char): bytes from 0x80 up as \uffffffXX; the control characters as \u00XX or their letters
    expect(printfData(msg("+\\t1\\t2\\t1\\tcaf\\uffffffc3\\uffffffa9 \\uffffffe9\\u0001\\n\\\\uffffffe9\\\"\\n"))).toBe("+\t1\t2\t1\tcafé \udce9\u0001\n\\uffffffe9\"");
    // arm64 (unsigned char): such bytes as they are, which the line splitter has decoded already
    expect(printfData(msg("X\\tcaf\u00e9 \udce9\\n"))).toBe("X\tcaf\u00e9 \udce9");
    expect(printfData('{"type": "lost_events", "data": {"events": 3}}')).toBeUndefined();
    expect(printfData(msg("bad \\uffffffzz"))).toBeUndefined();
  });

  it("strings longer than bpftrace's 200 bytes are marked: pathTruncated, argvTruncated", () => {
    const c = calls(bpf("long.out"));
    const open = c.find((r) => r.pathTruncated)!;
    expect(open.syscall).toBe("openat");
    expect((open.args[1] as { str: string; truncated: boolean }).truncated).toBe(true);
    expect(Buffer.byteLength((open.args[1] as { str: string }).str)).toBe(199);
    expect(c.find((r) => r.syscall === "execve")!.argvTruncated).toBe(true);
  });

  it("another user's refusal: EACCES on /etc/shadow", () => {
    const c = calls(bpf("user.out"));
    const o = c.find((r) => r.path === "/etc/shadow")!;
    expect([o.ok, o.errno]).toEqual([false, "EACCES"]);
  });

  it("bpftrace's own chatter is not a record; a line of something else is unparsed, never dropped", () => {
    const out: TraceRecord[] = [];
    const asm = new BpfAssembler((r) => out.push(r));
    asm.line("Attaching 7 probes...", 1);
    asm.line("", 2);
    asm.line("garbage here", 3);
    asm.line('{"type": "printf", "data": "R\\t9\\t1.0\\t1\\t1\\t1\\tx86_64\\t/\\n"}', 4);
    asm.line("R\t1\t1.0\t1\t1\t1\tx86_64\t/", 5);
    asm.line('{"type": "attached_probes", "data": {"probes": 8}}', 6);
    asm.line('{"type": "lost_events", "data": {"events": 12}}', 7);
    asm.end();
    expect(out.map((r) => r.type)).toEqual(["unparsed", "unparsed", "unparsed", "info"]);
    expect(out[1]).toMatchObject({ line: 4 });
    expect((out[1] as { reason: string }).reason).toMatch(/format 9/);
    expect((out[2] as { reason: string }).reason).toMatch(/format 1 of the bpftrace program \(text\); this version reads formats 2 and 3/);
    expect(asm.lost).toBe(12);
  });
});

describe("bpftrace's tools, as a best effort", () => {
  const snoop = (name: string, tool: "opensnoop" | "execsnoop" | "tcpconnect") => {
    const out: TraceRecord[] = [];
    readAll(new SnoopReader(tool, (x) => out.push(x)), readFileSync(BFIX + name));
    return out;
  };
  it("opensnoop.bt: pid, comm, result and path; relative paths stay relative", () => {
    const recs = snoop("opensnoop.out", "opensnoop");
    expect(recs.filter((r) => r.type === "unparsed")).toEqual([]);
    const c = calls(recs);
    const rel = c.find((r) => r.path === "hello.txt")!;
    expect([rel.comm, rel.ok, rel.cwdUnknown, rel.op]).toEqual(["cat", true, true, "open"]);
    const bad = c.find((r) => r.path === "/nonexistent")!;
    expect([bad.ok, bad.errno]).toEqual([false, "ENOENT"]);
  });
  it("execsnoop.bt: argv split at spaces, no result", () => {
    const c = calls(snoop("execsnoop.out", "execsnoop"));
    const echo = c.find((r) => r.argv?.[0] === "/bin/echo")!;
    expect([echo.path, echo.argv, echo.ok]).toEqual(["/bin/echo", ["/bin/echo", "two", "words"], null]);
    expect(c.find((r) => r.argv?.[0] === "ls")!.path).toBeUndefined();
  });
  it("tcpconnect.bt's columns: the peer", () => {
    const c = calls(snoop("tcpconnect.out", "tcpconnect"));
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ comm: "python3", op: "connect", addr: { family: "inet", ip: "127.0.0.1" } });
    expect(c[0].addr!.port).toBeGreaterThan(0);
  });
  it("the format is told by the first line", () => {
    expect(sniff("Attaching 6 probes...")).toBeUndefined();
    expect(sniff(lines("pipeline.out")[1].text)).toBe("bpftrace");
    expect(sniff(lines("opensnoop.out")[1].text)).toBe("opensnoop");
    expect(sniff(lines("execsnoop.out")[1].text)).toBe("execsnoop");
    expect(sniff(lines("tcpconnect.out")[1].text)).toBe("tcpconnect");
    expect(sniff("execve(\"/bin/true\", [\"true\"], 0x7ffd /* 20 vars */) = 0")).toBe("strace");
  });
});

describe("decoding", () => {
  it("flags and constants as strace names them", () => {
    expect(decode("open", 0o2000000n | 0o100n | 1n, "x86_64")).toBe("O_WRONLY|O_CREAT|O_CLOEXEC");
    expect(decode("open", 0o40000n | 0o200000n, "aarch64")).toBe("O_RDONLY|O_DIRECT|O_DIRECTORY");
    expect(decode("open", 0o200000n, "x86_64")).toBe("O_RDONLY|O_DIRECTORY");
    expect(decode("mode", 0o644n, "x86_64")).toBe("0644");
    expect(decode("mknod", 0o20600n, "x86_64")).toBe("S_IFCHR|0600");
    expect(decode("at", 0x1100n, "x86_64")).toBe("AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH");
    expect(decode("unlinkat", 0x200n, "x86_64")).toBe("AT_REMOVEDIR");
    expect(decode("access", 6n, "x86_64")).toBe("R_OK|W_OK");
    expect(decode("socktype", 3n | 0o2000000n, "x86_64")).toBe("SOCK_RAW|SOCK_CLOEXEC");
    expect(decode("clone", 0x1200011n, "x86_64")).toBe("CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD");
    expect(decode("fcntl", 1030n, "x86_64")).toBe("F_DUPFD_CLOEXEC");
  });
  it("IPv6 addresses as inet_ntop writes them", () => {
    const halves = (hex: string): [bigint, bigint] => {
      const b = Buffer.from(hex, "hex");
      return [b.readBigUInt64LE(0), b.readBigUInt64LE(8)];
    };
    expect(ipv6(...halves("00000000000000000000000000000001"))).toBe("::1");
    expect(ipv6(...halves("00000000000000000000ffff7f000001"))).toBe("::ffff:127.0.0.1");
    expect(ipv6(...halves("20010db8000000000001000000000001"))).toBe("2001:db8::1:0:0:1");
    expect(ipv6(...halves("fe800000000000000000000000000000"))).toBe("fe80::");
  });
  it("errno names and messages", () => {
    expect(errnoOf(2)).toEqual(["ENOENT", "No such file or directory"]);
    expect(errnoOf(13)).toEqual(["EACCES", "Permission denied"]);
    expect(errnoOf(512)[0]).toBe("ERESTARTSYS");
  });
  it("every errno the kernel headers define has its name (x86-64 and arm64 share the generic table)", () => {
    // the headers of the machine the tests run on (linux-libc-dev), the first name each number is given
    const want = new Map<number, string>();
    for (const f of ["/usr/include/asm-generic/errno-base.h", "/usr/include/asm-generic/errno.h"]) {
      for (const m of readFileSync(f, "utf8").matchAll(/#define\s+(E\w+)\s+(\d+)/g)) if (!want.has(Number(m[2]))) want.set(Number(m[2]), m[1]);
    }
    expect(want.size).toBeGreaterThan(120);
    for (const [n, name] of want) expect(errnoOf(n)[0], `errno ${n}`).toBe(name);
    expect(errnoOf(115)).toEqual(["EINPROGRESS", "Operation now in progress"]);
    expect(errnoOf(114)).toEqual(["EALREADY", "Operation already in progress"]);
    expect(errnoOf(95)[0]).toBe("EOPNOTSUPP");
    expect(errnoOf(41)[0]).toBe("ERRNO_41");
  });
  it("the program covers the same calls on both architectures where they exist, by number", () => {
    for (const arch of ["x86_64", "aarch64"]) {
      const m = callsByNumber(arch);
      expect(m.get(arch === "x86_64" ? 257 : 56)!.name).toBe("openat");
      expect(m.size).toBe(BPF_CALLS.filter((c) => c.nr[arch as "x86_64"] >= 0).length);
    }
    expect(bpfProgram("aarch64")).not.toMatch(/@want\[-1\]/);
  });
  it("bpf/leastpriv.bt is the program the table writes", () => {
    expect(readFileSync(ROOT + "bpf/leastpriv.bt", "utf8")).toBe(bpfProgram("x86_64"));
  });
});

describe("a podman container under bpftrace (capture.sh: podman)", () => {
  // the container's program (busybox time) starts cat with vfork: cat runs, and execs, before the clone returns
  function marked(withForks: boolean): SyscallRecord[] {
    const out: TraceRecord[] = [];
    const marks = new RuntimeMarks();
    const asm = new BpfAssembler((r) => out.push(marks.mark(r, "c")));
    if (withForks) asm.onFork = (parent, child) => marks.forked(parent, child);
    readAll(asm, readFileSync(BFIX + "podman.out"), "podman.out");
    return calls(out);
  }
  const read = (sys: SyscallRecord[]) => sys.find((r) => r.syscall === "openat" && r.path === "/data/secret.txt")!;

  it("the child's exec comes before the clone that made it: only the fork line says in time whose it is", () => {
    const sys = marked(false);
    const cat = read(sys).pid;
    const clone = sys.findIndex((r) => r.kind === "proc" && r.op === "fork" && r.ok && childPid(r) === cat);
    expect(clone).toBeGreaterThan(0);
    const exec = sys.findIndex((r) => r.pid === cat && r.kind === "exec");
    expect(exec).toBeLessThan(clone);
    expect(sys[exec].runtime).toBe(true);                    // from the clone record alone: cat's exec wrongly the runtime's
  });

  it("told of forks as they happen, the child is the container's, and nothing of podman, conmon or runc is", () => {
    const sys = marked(true);
    expect(read(sys)).toMatchObject({ ok: true, containerPath: true, container: "c" });
    expect(read(sys).runtime).toBeUndefined();
    const app = sys.filter((r) => !r.runtime);
    expect(app.filter((r) => r.kind === "exec").map((r) => r.argv!.join(" "))).toEqual(["/bin/busybox time cat /data/secret.txt", "cat /data/secret.txt"]);
    expect(app.some((r) => /podman|conmon|runc/.test(r.comm ?? ""))).toBe(false);
    expect(sys.filter((r) => r.runtime).length).toBeGreaterThan(1000);
  });
});

describe("an exec whose start came late, under load (capture.sh: late)", () => {
  // 100 ls run by sh while five loops of docker run and two busy shells kept both CPUs busy: bpftrace fell
  // behind and read one CPU's buffer at a time, and an exec's start (its X line, on one CPU) came after its
  // end (its C line, on the other) by more than 100 ms of the other CPU's lines
  type L = ReturnType<typeof lines>[number];
  const all = (): L[] => { const split = new LineSplitter(); return [...split.push(gunzipSync(readFileSync(BFIX + "late.out.gz"))), ...split.end()]; };
  const data = (l: L) => printfData(l.text) ?? "";
  function read(ls: L[], end = true): { out: TraceRecord[]; asm: BpfAssembler } {
    const out: TraceRecord[] = [];
    const asm = new BpfAssembler((r) => out.push(r));
    asm.startFile("late.out");
    for (const l of ls) asm.line(l.text, l.no, l.fullLength);
    if (end) asm.end();
    return { out, asm };
  }
  const execs = (out: TraceRecord[]) => calls(out).filter((r) => r.kind === "exec");
  const inTimeOrder = (out: TraceRecord[]) => {
    const t = out.filter((r) => r.type === "syscall" || r.type === "exit").map((r) => (r as SyscallRecord).time!);
    return t.every((x, i) => i === 0 || x >= t[i - 1]);
  };
  // the same lines as format 2 printed them: no ticks, so the reader holds each event a fixed 100 ms
  const asFormat2 = (ls: L[]) => ls.filter((l) => !data(l).startsWith("T\t")).map((l) => ({ ...l, text: l.text.replace('"data": "R\\t3\\t', '"data": "R\\t2\\t') }));

  it("the ticks hold each line until every CPU's have passed it: every exec whole, every record in time order", () => {
    const { out, asm } = read(all());
    expect(out.filter((r) => r.type === "unparsed")).toEqual([]);
    expect(execs(out).filter((r) => r.missing)).toEqual([]);
    expect(execs(out).filter((r) => r.ok && r.path === "/usr/bin/ls").map((r) => r.argv!.join(" "))).toEqual(Array(100).fill("ls /"));
    expect(inTimeOrder(out)).toBe(true);
    expect(asm.lostKinds).toEqual({});
  });

  it("the same lines with a fixed hold of 100 ms (format 2, no ticks) lose an exec's path, and the time order", () => {
    const { out } = read(asFormat2(all()));
    expect(execs(out).filter((r) => r.missing).length).toBeGreaterThan(0);
    expect(inTimeOrder(out)).toBe(false);
  });

  /** The lines of one successful exec's start: its X line and its argv pieces. */
  function startOf(ls: L[], k: number): L[] {
    const xs = ls.filter((l) => /^X\t/.test(data(l)) && data(l).endsWith("\t/usr/bin/ls"));
    const [, ns, , tid] = data(xs[k]).split("\t");
    return ls.filter((l) => l === xs[k] || data(l).startsWith(`+\t${ns}\t${tid}\t`));
  }

  it("a start that never comes: its end is released once the ticks pass it, without the path, and counted", () => {
    const ls = all();
    const gone = new Set(startOf(ls, 50));
    // no end of the stream: what is out came out because the ticks let it
    const { out, asm } = read(ls.filter((l) => !gone.has(l) && !data(l).startsWith("Q\t")), false);
    const missing = execs(out).filter((r) => r.missing);
    expect(missing.map((r) => r.missing)).toEqual([[0, 1]]);
    expect(out.indexOf(missing[0])).toBeLessThan(out.length - 100);
    expect(asm.lostKinds).toEqual({ argument: 1 });
  });

  it("a record the backend does not keep (another container's) is not counted as written with a piece missing", () => {
    const ls = all();
    const gone = new Set(startOf(ls, 50));
    const kept: TraceRecord[] = [];
    let lacking: TraceRecord | undefined;
    // the backend's scope: here, everything but the exec that lost its start
    const asm = new BpfAssembler((r) => {
      if (r.type === "syscall" && r.missing) { lacking = r; return false; }
      kept.push(r);
      return true;
    });
    asm.startFile("late.out");
    for (const l of ls.filter((l) => !gone.has(l))) asm.line(l.text, l.no, l.fullLength);
    asm.end();
    expect(lacking).toMatchObject({ syscall: "execve", missing: [0, 1] });
    expect(asm.lostKinds).toEqual({});
    expect(kept.some((r) => r.type === "syscall" && r.missing)).toBe(false);
  });

  it("a start later than its end was held: the end is written without it, and the start names no other exec", () => {
    const ls = all();
    const start = startOf(ls, 50);
    const late = new Set(start);
    const rest = ls.filter((l) => !late.has(l));
    const q = rest.findIndex((l) => data(l).startsWith("Q\t"));
    const { out } = read([...rest.slice(0, q), ...start, ...rest.slice(q)]);
    const whole = execs(read(ls).out), got = execs(out);
    expect(got.length).toBe(whole.length);
    const differ = got.filter((r, i) => JSON.stringify(r) !== JSON.stringify(whole[i]));
    expect(differ.map((r) => [r.path ?? null, r.missing])).toEqual([[null, [0, 1]]]);
    expect(out.filter((r) => r.type === "info" && /start of an exec .* came after its end/.test(r.text))).toHaveLength(1);
  });
});
