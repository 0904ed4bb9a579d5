// The Landlock ruleset generator on real captures: TCP ports, unix sockets, scoping; and the
// interpreter lookup (ELF PT_INTERP, `#!`) on this host's own programs.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fixture } from "../helpers.js";
import { landlockRuleset, realHostFacts, type HostFacts } from "../../lib/policy/landlock.js";
import { Profiler } from "../../lib/profile/summary.js";

// the captures come from another machine: nothing of theirs is on this host
const ELSEWHERE: HostFacts = { type: () => undefined, interpreter: () => undefined, matches: () => [] };

function ruleset(name: string) {
  const p = new Profiler();
  for (const r of fixture(name)) p.add(r as never);
  const [h, ...items] = p.result();
  return landlockRuleset(h, items, ELSEWHERE);
}

describe("landlockRuleset", () => {
  it("allows the TCP ports bound and connected to, and nothing else", () => {
    const { ruleset: r } = ruleset("net-tcp.strace");
    expect(r.netPort).toEqual([{ allowedAccess: ["bind_tcp"], port: [0] }, { allowedAccess: ["connect_tcp"], port: [35461] }]);
    expect(r.ruleset[0].handledAccessNet).toEqual(["bind_tcp", "connect_tcp"]);
    expect(r.abi).toBeGreaterThanOrEqual(4);
  });

  it("a unix socket bound to a path is a file made in its directory; its own abstract socket keeps the scope", () => {
    const { ruleset: r, warnings } = ruleset("net-unix.strace");
    const sock = r.pathBeneath!.find((x) => x.parent.includes("/tmp/leastpriv-capture"));
    expect(sock?.allowedAccess).toContain("make_sock");
    expect(r.ruleset[0].scoped).toContain("abstract_unix_socket");
    expect(warnings.join("\n")).not.toMatch(/abstract/);
  });

  it("an O_RDWR|O_TMPFILE open in /tmp: read and write beneath /tmp, the rights the kernel checks on the new file", () => {
    const { ruleset: r } = ruleset("tmpfile.strace");
    const tmp = r.pathBeneath!.filter((x) => x.parent.includes("/tmp")).flatMap((x) => x.allowedAccess);
    expect(tmp).toEqual(expect.arrayContaining(["read_file", "write_file", "make_reg"]));
  });

  it("/proc/self is granted on /proc (the children's /proc/<pid> is not there yet), with the rights used, and said", () => {
    const { ruleset: r, warnings } = ruleset("proc-self.strace");
    expect(JSON.stringify(r)).not.toContain("/proc/self");
    const proc = r.pathBeneath!.filter((x) => x.parent.includes("/proc")).flatMap((x) => x.allowedAccess);
    expect(proc.sort()).toEqual(["read_dir", "read_file"]);
    expect(warnings.join("\n")).toMatch(/^\/proc\/self\/.*: granted beneath all of \/proc \((read_dir|read_file)[^)]*\): a child's \/proc\/<pid> is not there when the sandbox starts$/m);
  });

  it("is the same value for the same profile", () => {
    expect(JSON.stringify(ruleset("chdir.strace"))).toBe(JSON.stringify(ruleset("chdir.strace")));
  });
});

describe("realHostFacts().interpreter", () => {
  it("reads an ELF's PT_INTERP as readelf does", () => {
    const cat = execFileSync("sh", ["-c", "command -v cat"], { encoding: "utf8" }).trim();
    const elf = execFileSync("readelf", ["-l", cat], { encoding: "utf8" });
    const want = /Requesting program interpreter: ([^\]]+)\]/.exec(elf)?.[1];
    expect(want).toMatch(/^\/\S+$/);
    expect(realHostFacts().interpreter(cat)).toBe(want);
  });
  it("reads a script's #! line", () => {
    const d = mkdtempSync(tmpdir() + "/landlock-unit-");
    try {
      writeFileSync(`${d}/s`, "#!/bin/sh -e\necho\n");
      writeFileSync(`${d}/t`, "#! /usr/bin/env python3\n");
      writeFileSync(`${d}/u`, "echo no line\n");
      const h = realHostFacts();
      expect([h.interpreter(`${d}/s`), h.interpreter(`${d}/t`), h.interpreter(`${d}/u`)]).toEqual(["/bin/sh", "/usr/bin/env", undefined]);
    } finally { rmSync(d, { recursive: true, force: true }); }
  });
});
