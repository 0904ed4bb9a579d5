// Profiles from real captures: what they hold, merging, normalisation, collapse.
import { describe, expect, it } from "vitest";
import { fixture } from "../helpers.js";
import { Profiler, type ProfileHeader, type Summary } from "../../lib/profile/summary.js";
import { verdictOf, verdictText } from "../../lib/profile/verdict.js";
import { normalizePath, tempName } from "../../lib/profile/normalize.js";
import type { TraceRecord } from "../../lib/io/records.js";

const profile = (recs: object[], collapse?: number, rules = []) => {
  const p = new Profiler(rules);
  for (const r of recs) p.add(r as TraceRecord);
  return p.result(collapse);
};
const items = (recs: object[], collapse?: number) => profile(recs, collapse).slice(1) as Summary[];
const find = (xs: Summary[], f: Partial<Summary>) => xs.find((s) => Object.entries(f).every(([k, v]) => JSON.stringify((s as any)[k]) === JSON.stringify(v)));

describe("trace-summarize profiles", () => {
  it("a shell pipeline: files changed and read, programs with argv, searches kept apart", () => {
    const xs = items(fixture("pipeline.strace"));
    // made by mkdir and renamed onto made2: a temporary of it (and the link made and removed, of sub)
    expect(find(xs, { kind: "file", path: "/tmp/leastpriv-capture/sub/<tmp>" })).toMatchObject({ ops: ["delete", "mkdir", "rename", "stat", "symlink"],
      temporaryOf: ["/tmp/leastpriv-capture/sub/made2"] });
    expect(find(xs, { kind: "file", path: "/tmp/leastpriv-capture/sub/made" })).toBeUndefined();
    expect(find(xs, { kind: "file", path: "/tmp/leastpriv-capture/sub/made2" })?.ops).toEqual(["create", "delete"]);
    expect(find(xs, { kind: "file", path: "/tmp/leastpriv-capture/hello.txt" })).toMatchObject({ ops: ["read"], programs: ["/usr/bin/cat"] });
    expect(find(xs, { kind: "exec", path: "/usr/bin/mv" })?.argv).toEqual([["mv", "made", "made2"]]);
    const probe = xs.find((s) => s.kind === "file" && s.path === "/root/.cargo/bin/cat");
    expect(probe).toMatchObject({ probe: true, ok: 0, errors: { ENOENT: expect.any(Number) } });
    expect(find(xs, { kind: "file", path: "/usr/bin/cat" })?.probe).toBeUndefined();
    const h = profile(fixture("pipeline.strace"))[0];
    expect(h).toMatchObject({ type: "profile", commands: [["sh", "-c", expect.stringContaining("cat hello.txt")]], processes: 9 });
    expect(h.syscalls.execve).toBeGreaterThan(5);
    expect(h.warning).toMatch(/only what this run did/);
  });

  it("a Python program importing modules: reads under the library, collapsed to globs", () => {
    const full = items(fixture("py-import.strace"));
    const mods = full.filter((s) => s.kind === "file" && !s.probe && s.path!.startsWith("/usr/lib/python3.11/") && s.ops.includes("read"));
    expect(mods.length).toBeGreaterThan(50);
    // a package's __init__.py is looked at (stat), its compiled form is what is read
    expect(find(full, { kind: "file", path: "/usr/lib/python3.11/json/__init__.py" })).toMatchObject({ ops: ["stat"], okOps: ["stat"], syscalls: ["newfstatat"], calls: 2, ok: 2 });
    const small = items(fixture("py-import.strace"), 30);
    const globs = small.filter((s) => s.path?.endsWith("/**")).map((s) => s.path);
    expect(globs).toContain("/usr/lib/python3.11/**");
    expect(small.filter((s) => s.kind === "file" && !s.probe).length).toBeLessThan(60);
    expect(items(fixture("py-import.strace"), 3).filter((s) => s.kind === "file" && !s.probe).map((s) => s.path)).toContain("/usr/**");
    // nothing is lost: the calls are all still counted
    const calls = (xs: Summary[]) => xs.filter((s) => s.kind === "file").reduce((n, s) => n + s.calls, 0);
    expect(calls(small)).toBe(calls(full));
  });

  it("a program that connects to a local server", () => {
    const xs = items(fixture("net-tcp.strace")).filter((s) => s.kind === "net");
    const listen = xs.find((s) => s.role === "local" && s.ops.includes("listen"))!;
    expect(listen.addr).toMatchObject({ family: "inet", proto: "TCP", ip: "127.0.0.1" });
    expect(find(xs, { role: "peer", addr: { family: "inet", proto: "TCP", ip: "127.0.0.1", port: listen.addr!.port } })?.ops).toEqual(["connect"]);
    expect(find(xs, { role: "peer", addr: { family: "inet", proto: "TCP", ip: "127.0.0.1" } })?.ops).toEqual(["accept"]);
    expect(find(xs, { role: "socket", addr: { family: "inet", proto: "TCP" } })?.calls).toBe(2);
  });

  it("privileged operations with the capability they imply and the evidence", () => {
    const xs = items(fixture("priv.strace")).filter((s) => s.kind === "priv");
    expect(find(xs, { op: "bind" })).toMatchObject({ capability: "CAP_NET_BIND_SERVICE", evidence: ["bind 127.0.0.1:80 (ok)"] });
    expect(find(xs, { op: "mount" })).toMatchObject({ capability: "CAP_SYS_ADMIN", calls: 2 });
    expect(find(xs, { op: "chroot" })).toMatchObject({ capability: "CAP_SYS_CHROOT", evidence: ["chroot / (ok)"] });
    expect(find(xs, { op: "unshare" })?.capability).toBe("CAP_SYS_ADMIN");
  });

  it("datagrams to an address, and a packet socket implying CAP_NET_RAW", () => {
    const xs = items(fixture("net-msg.strace"));
    const peers = xs.filter((s) => s.kind === "net" && s.role === "peer");
    // sent to a port; received from an address (the sender's port is its own business)
    expect(peers.map((s) => [s.ops, s.addr])).toEqual([
      [["send"], { family: "inet", proto: "UDP", ip: "127.0.0.1", port: expect.any(Number) }],
      [["recv"], { family: "inet", proto: "UDP", ip: "127.0.0.1" }],
    ]);
    expect(xs.find((s) => s.kind === "priv" && s.op === "raw-socket")).toMatchObject({ capability: "CAP_NET_RAW", evidence: ["socket packet (ok)"] });
  });

  it("merging is the same as summarising together, in any order and in stages", () => {
    // each stream starts with its run header, as trace-parse and trace-run write them
    const runs = ["tworuns-1.strace", "pipeline.strace", "net-tcp.strace"].map((f) => [{ type: "run", v: 1, tracer: "strace" }, ...fixture(f)]);
    const together = profile(runs.flat());
    const [a, b, c] = runs.map((r) => profile(r));
    const merge = (...ps: object[][]) => profile(ps.flat());
    const text = (p: object[]) => p.map((x) => JSON.stringify(x)).join("\n");
    expect(text(merge(a, b, c))).toBe(text(together));
    expect(text(merge(c, a, b))).toBe(text(together));
    expect(text(merge(merge(a, b), c))).toBe(text(merge(a, merge(b, c))));
    expect(together[0]).toMatchObject({ runs: 3, processes: 9 + 7 + 1, commands: expect.arrayContaining([expect.arrayContaining(["sh", "-c"])]) });
    expect(together[0].commands.length).toBe(3);
  });

  it("normalisation makes two runs of the same command identical", () => {
    const [h1, ...s1] = profile(fixture("tworuns-1.strace"));
    const [h2, ...s2] = profile(fixture("tworuns-2.strace"));
    expect(JSON.stringify(s1)).toBe(JSON.stringify(s2));
    expect({ ...h1, start: 0, end: 0 }).toEqual({ ...h2, start: 0, end: 0 });
    expect(s1.some((s) => s.path === "/tmp/<tmp>/a")).toBe(true);
    // cat reads its parent shell's status: a traced process's, named /proc/self
    expect(s1.some((s) => s.path === "/proc/self/status")).toBe(true);
    // without normalisation they differ
    const raw = (f: string) => fixture(f).filter((r) => r.type === "syscall" && (r as any).path?.startsWith("/tmp/tmp.")).map((r) => (r as any).path);
    expect(raw("tworuns-1.strace")).not.toEqual(raw("tworuns-2.strace"));
  });

  it("socket inodes and netlink port ids, which the kernel hands out per run, never key a summary", () => {
    const nets = items(fixture("fd-kinds.strace")).filter((s) => s.kind === "net");
    expect(nets.length).toBeGreaterThan(5);
    expect(nets.filter((s) => s.addr!.inode !== undefined || (s.addr as { port?: number }).port !== undefined)).toEqual([]);
    const nl = nets.filter((s) => s.addr!.family === "netlink").map((s) => [s.role, s.addr]);
    expect(nl).toEqual([["local", { family: "netlink", proto: "NETLINK", netlink: "ROUTE" }], ["peer", { family: "netlink", proto: "NETLINK", netlink: "ROUTE" }],
      ["socket", { family: "netlink", proto: "NETLINK", netlink: "ROUTE" }]]);
  });

  it("temporaries by rule: two runs of a Python job that uses temporary files give the same profile", () => {
    // tempfile's names, a directory made and removed with a file in it, mkstemp renamed onto final.txt,
    // O_TMPFILE, NAME.pyc.<id> renamed onto NAME.pyc, a netlink socket (temps-N.strace, capture.sh)
    const [p1, p2] = [profile(fixture("temps-1.strace")), profile(fixture("temps-2.strace"))];
    expect(JSON.stringify(p1.slice(1))).toBe(JSON.stringify(p2.slice(1)));
    const raw = (f: string) => fixture(f).filter((r) => r.type === "syscall" && (r as any).path?.startsWith("/tmp/leastpriv-capture/out/")).map((r) => (r as any).path);
    expect(raw("temps-1.strace")).not.toEqual(raw("temps-2.strace"));
    const xs = p1.slice(1) as Summary[];
    const out = "/tmp/leastpriv-capture/out";
    // no random name keys a summary, or stands among its names
    const random = /\/tmp[a-z0-9_]{8}(\/|$)|\.pyc\.\d+$|\/#\d+$/;
    expect(xs.filter((s) => [s.path ?? "", ...(s.names ?? [])].some((n) => random.test(n)))).toEqual([]);
    expect(find(xs, { kind: "file", path: out + "/<tmp>" })).toMatchObject({ temporaryOf: [out + "/final.txt"], okOps: expect.arrayContaining(["create", "delete", "mkdir", "rename", "write"]) });
    expect(find(xs, { kind: "file", path: out + "/<tmp>/result.txt" })).toMatchObject({ okOps: ["create", "delete", "write"] });
    expect(find(xs, { kind: "file", path: out + "/__pycache__/<tmp>" })).toMatchObject({ temporaryOf: [out + "/__pycache__/leastpriv_mod.cpython-311.pyc"], okOps: ["create", "rename", "write"] });
    expect(find(xs, { kind: "file", path: out + "/final.txt" })?.okOps).toEqual(["create"]);
    expect(find(xs, { kind: "file", path: out + "/__pycache__" })?.okOps).toEqual(["mkdir"]);
  });

  it("temporaries stay bounded: a stream repeating the same job folds into the same summaries", () => {
    const once = profile(fixture("temps-1.strace"));
    const recs = fixture("temps-1.strace");
    const many = profile(Array.from({ length: 20 }, () => recs).flat());
    expect(many.slice(1).map((s: any) => s.path ?? JSON.stringify(s.addr))).toEqual(once.slice(1).map((s: any) => s.path ?? JSON.stringify(s.addr)));
    expect((many[2] as Summary).calls).toBe(20 * (once[2] as Summary).calls);
  });

  it("rules and temporary names", () => {
    expect(normalizePath("/proc/42/fd/3")).toBe("/proc/<pid>/fd/<fd>");
    expect(normalizePath("/proc/self/fdinfo/12")).toBe("/proc/self/fdinfo/<fd>");
    expect(normalizePath("/dev/pts/7")).toBe("/dev/pts/<n>");
    expect(normalizePath("/var/tmp/build-x1Y2z3/out")).toBe("/var/tmp/build-<tmp>/out");
    expect(normalizePath("/tmp/report.txt")).toBe("/tmp/report.txt");
    expect(tempName("tmp.AbCdEf1234")).toBe("tmp.<tmp>");
    expect(normalizePath("/srv/app/cache/8f3a9c", [{ re: /^\/srv\/app\/cache\/[0-9a-f]+$/, to: "/srv/app/cache/<hash>" }])).toBe("/srv/app/cache/<hash>");
  });
});

describe("the verdict says what the trace could not see", () => {
  it("an incomplete profile (events lost) opens the answers with it, with the count", () => {
    const p = new Profiler();
    // the whole run, its end record too (without it the profile would say it was cut short)
    for (const r of fixture("pipeline.strace")) p.add(r);
    p.add({ type: "end" });
    const [h, ...items] = p.result();
    const v = verdictOf({ ...h, incomplete: ["lost 2200 events"] } as ProfileHeader, items);
    expect(v.incomplete).toEqual(["lost 2200 events"]);
    expect(verdictText(v)[1]).toBe("  Trace:      incomplete — lost 2200 events: what was lost is in no answer below");
    expect(verdictOf(h, items).incomplete).toBeUndefined();
  });
});
