// seccomp argument filters from real captures: the values a profile keeps, merging them, the rules.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fixture, ROOT } from "../helpers.js";
import { BpfAssembler } from "../../lib/bpf/bpftrace.js";
import { LineSplitter } from "../../lib/io/lines.js";
import { Profiler, type ProfileHeader } from "../../lib/profile/summary.js";
import { seccompProfile } from "../../lib/policy/seccomp.js";
import { MAX_VALUES, unionValues, valueNumber, CLONE, PR } from "../../lib/profile/arg-values.js";
import type { TraceRecord } from "../../lib/io/records.js";

const header = (recs: object[]): ProfileHeader => {
  const p = new Profiler();
  for (const r of recs) p.add(r as TraceRecord);
  return p.result()[0];
};
const bpfHeader = (name: string): ProfileHeader => {
  const p = new Profiler();
  const asm = new BpfAssembler((r) => p.add(r));
  asm.startFile(name);
  const split = new LineSplitter();
  for (const l of [...split.push(readFileSync(ROOT + "test/fixtures/bpftrace/" + name)), ...split.end()]) asm.line(l.text, l.no, l.fullLength);
  asm.end();
  return p.result()[0];
};
const rulesOf = (h: ProfileHeader, name: string, opts = {}) => seccompProfile(h, "test", opts).syscalls.filter((r) => r.names.includes(name));

describe("argument values in profiles", () => {
  it("keeps socket families and types, clone, clone3 and unshare flags as traced", () => {
    const h = header([...fixture("net-tcp.strace"), ...fixture("pidns.strace"), ...fixture("priv.strace"), ...fixture("net-unix.strace")]);
    expect(h.argValues!.socket!.family).toEqual(expect.arrayContaining(["AF_INET", "AF_UNIX"]));
    expect(h.argValues!.socket!.type).toContain("SOCK_STREAM|SOCK_CLOEXEC");
    expect(h.argValues!.clone!.flags).toEqual(["CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"]);
    expect(h.argValues!.unshare!.flags).toEqual(["CLONE_NEWNS"]);
  });

  it("the bpftrace backend keeps the same names as strace for the same programs", () => {
    // both captures ran the same helpers (test/fixtures/*/capture.sh)
    const strace = header(["net-tcp.strace", "net-udp6.strace", "net-unix.strace", "net-msg.strace"].flatMap((n) => fixture(n)));
    expect(bpfHeader("net.out").argValues!.socket).toEqual(strace.argValues!.socket);
    expect(bpfHeader("threads.out").argValues!.clone3).toEqual(header(fixture("thread-exec.strace")).argValues!.clone3);
  });

  it("merging profiles gives the profile of both runs, in either order", () => {
    const runs = ["net-tcp.strace", "pidns.strace", "priv.strace", "net-unix.strace", "thread-exec.strace"].map(fixture);
    const all = header(runs.flat()).argValues;
    const merged = (order: number[]) => header(order.map((i) => header(runs[i]!))).argValues;
    expect(merged([0, 1, 2, 3, 4])).toEqual(all);
    expect(merged([4, 3, 2, 1, 0])).toEqual(all);
    // ((a b) c) = (a (b c))
    expect(header([header([header(runs[0]!), header(runs[1]!)]), header(runs[2]!)]).argValues)
      .toEqual(header([header(runs[0]!), header([header(runs[1]!), header(runs[2]!)])]).argValues);
  });

  it("a profile that counted a call but kept no values for it makes them any", () => {
    const h = header(fixture("net-tcp.strace"));
    const old = { ...h, argValues: undefined };
    expect(header([old, header(fixture("net-unix.strace"))]).argValues!.socket).toEqual({ family: "any", type: "any" });
    expect(rulesOf(header([old]), "socket")).toEqual([expect.objectContaining({ names: expect.arrayContaining(["socket", "read"]), action: "SCMP_ACT_ALLOW" })]);
  });

  it("more than MAX_VALUES values are any, and any absorbs", () => {
    const many = Array.from({ length: MAX_VALUES + 1 }, (_, i) => String(i));
    expect(unionValues(many.slice(0, 9), many.slice(9))).toBe("any");
    expect(unionValues(["AF_UNIX"], "any")).toBe("any");
    expect(unionValues(["b"], ["a", "b"])).toEqual(["a", "b"]);
  });

  it("names and numbers as strace and the bpftrace decoder print them", () => {
    expect(valueNumber("CLONE_VM|CLONE_NEWNET|SIGCHLD", CLONE, true)).toBe(0x100 | 0x40000000);
    expect(valueNumber("CLONE_VM|SIGCHLD", CLONE)).toBeUndefined();
    expect(valueNumber("CLONE_NEWFOO", CLONE)).toBeUndefined();
    expect(valueNumber("0x10|010", CLONE)).toBe(0x18);
  });
});

describe("seccomp rules on argument values", () => {
  it("socket only for the families and types traced, type compared under its mask", () => {
    const h = header(fixture("net-tcp.strace"));
    const rules = rulesOf(h, "socket");
    expect(rules.every((r) => r.names.length === 1 && r.args)).toBe(true);
    expect(rules.map((r) => r.args)).toEqual([[{ index: 0, value: 2, op: "SCMP_CMP_EQ" }, { index: 1, value: 0xf, valueTwo: 1, op: "SCMP_CMP_MASKED_EQ" }]]);
    expect(rulesOf(h, "socket", { argFilters: false })).toEqual([expect.objectContaining({ names: expect.arrayContaining(["socket", "connect"]) })]);
  });

  it("clone without namespace flags; clone3 gets ENOSYS so that libc falls back to clone", () => {
    const h = header(fixture("thread-exec.strace"));
    expect(h.syscalls.clone3).toBeGreaterThan(0);
    expect(rulesOf(h, "clone")).toEqual([expect.objectContaining({ args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }] })]);
    expect(rulesOf(h, "clone3")).toEqual([expect.objectContaining({ action: "SCMP_ACT_ERRNO", errnoRet: 38 })]);
    expect(rulesOf(h, "clone3", { argFilters: false })[0]).toMatchObject({ action: "SCMP_ACT_ALLOW" });
  });

  it("unshare only with the flags traced", () => {
    expect(rulesOf(header(fixture("priv.strace")), "unshare")).toEqual([expect.objectContaining({ args: [{ index: 0, value: 0x20000, op: "SCMP_CMP_EQ" }] })]);
  });

  it("personality only with the personalities traced, a query included", () => {
    const h = header(fixture("personality.strace"));
    expect(h.argValues!.personality!.persona).toEqual(["0xffffffff", "PER_LINUX|ADDR_NO_RANDOMIZE", "PER_LINUX|UNAME26"]);
    expect(rulesOf(h, "personality").map((r) => r.args)).toEqual([0x20000, 0x40000, 0xffffffff].map((value) => [{ index: 0, value, op: "SCMP_CMP_EQ" }]));
  });

  it("prctl only with the options traced and the ones runc calls after installing the filter", () => {
    const h = header(fixture("two-containers.strace"));
    expect(h.argValues!.prctl!.option).toEqual(expect.arrayContaining(["PR_SET_NAME", "PR_GET_PDEATHSIG"]));
    const values = rulesOf(h, "prctl").map((r) => r.args![0]!.value);
    const expected = [...new Set([...(h.argValues!.prctl!.option as string[]), "PR_CAPBSET_DROP", "PR_CAP_AMBIENT", "PR_SET_KEEPCAPS"].map((n) => PR[n]!))].sort((a, b) => a - b);
    expect(values).toEqual(expected);
    expect(values).not.toContain(PR.PR_SET_DUMPABLE);
    expect(rulesOf(h, "prctl").every((r) => r.action === "SCMP_ACT_ALLOW" && r.args!.length === 1 && r.args![0]!.op === "SCMP_CMP_EQ")).toBe(true);
    // a program that never called prctl still gets runc's options, and nothing else
    const none = header(fixture("pidns.strace"));
    expect(none.syscalls.prctl).toBeUndefined();
    expect(rulesOf(none, "prctl").map((r) => r.args![0]!.value)).toEqual([PR.PR_SET_KEEPCAPS, PR.PR_CAPBSET_DROP, PR.PR_CAP_AMBIENT]);
    // an option strace printed as a number is filtered as that number
    const odd = { ...h, argValues: { ...h.argValues, prctl: { option: ["0x7777"] } } };
    expect(rulesOf(odd, "prctl").map((r) => r.args![0]!.value)).toContain(0x7777);
    const any = { ...h, argValues: { ...h.argValues, prctl: { option: "any" as const } } };
    expect(rulesOf(any, "prctl")).toEqual([expect.objectContaining({ action: "SCMP_ACT_ALLOW", names: expect.arrayContaining(["prctl"]) })]);
    expect(rulesOf(any, "prctl")[0]!.args).toBeUndefined();
    expect(rulesOf(h, "prctl", { argFilters: false })[0]!.args).toBeUndefined();
  });

  it("names the architectures asked for", () => {
    const h = header(fixture("pidns.strace"));
    expect(seccompProfile(h, "t", { arch: "arm64" }).architectures).toEqual(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    expect(seccompProfile(h, "t", { arch: "x86-64" }).architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  });
});
