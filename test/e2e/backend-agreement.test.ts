// What the backends make of one job must be the same where a profile or a policy reads it: the values a
// seccomp policy filters on, who ran each program, and whether every system call was traced. The job
// is a #! script running Python that sets prctl options and opens sockets (root: the kernel backends).
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/trace-agree-");
const profileOf = (backend: string) => {
  const t = run("trace-run", ["--backend", backend, "--", tmp + "/job.sh"]);
  expect(t.status, t.stderr).toBe(0);
  const p = run("trace-summarize", [], t.stdout);
  writeFileSync(`${tmp}/${backend}.profile`, p.stdout);
  return { file: `${tmp}/${backend}.profile`, recs: p.records() };
};

describe("the backends agree on what profiles and policies read", () => {
  beforeAll(() => {
    writeFileSync(tmp + "/job.py", [
      "import ctypes, socket",
      "libc = ctypes.CDLL(None)",
      "libc.prctl(15, b'agree', 0, 0, 0)     # PR_SET_NAME",
      "libc.prctl(38, 1, 0, 0, 0)            # PR_SET_NO_NEW_PRIVS",
      "libc.prctl(36, 1, 0, 0, 0)            # PR_SET_CHILD_SUBREAPER",
      "socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()",
      "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()",
    ].join("\n") + "\n");
    writeFileSync(tmp + "/job.sh", `#!/bin/sh\n/usr/bin/python3 ${tmp}/job.py\nls / > /dev/null\n`);
    chmodSync(tmp + "/job.sh", 0o755);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("prctl options, socket families and clone flags: the same names from strace and ebpf", () => {
    const [s, e] = [profileOf("strace"), profileOf("ebpf")];
    expect(s.recs[0].argValues.prctl.option).toEqual(["PR_SET_CHILD_SUBREAPER", "PR_SET_NAME", "PR_SET_NO_NEW_PRIVS"]);
    expect(e.recs[0].argValues).toEqual(s.recs[0].argValues);
    // the script's own exec was made by the launcher, which no backend names; the name a kernel
    // backend read at the exec's end is the script's, not its caller's
    const execs = (recs: any[]) => recs.filter((x) => x.type === "summary" && x.kind === "exec" && x.ok > 0)
      .map((x) => [x.path, x.programs]).sort();
    expect(execs(e.recs)).toEqual(execs(s.recs));
    // (the directory's random name may be folded to <tmp>: the script is told by its own name)
    expect(execs(s.recs).filter(([path]) => path.endsWith("/job.sh"))).toEqual([[expect.any(String), []]]);
  }, 90000);

  it("a kernel backend follows only some calls: no seccomp policy or SystemCallFilter= from its trace", () => {
    for (const backend of ["strace", "ebpf", "bpftrace"]) {
      const t = run("trace-run", ["--backend", backend, "--", "/bin/true"]);
      expect(t.status, `${backend}: ${t.stderr}`).toBe(0);
      const p = run("trace-policy", ["--format", "seccomp"], t.stdout);
      expect(p.stderr, backend).toMatch(/^trace-policy: the trace followed only some system calls/);
      expect(p.stdout, backend).toBe("");
      expect(p.status, backend).toBe(2);
      const u = run("trace-policy", ["--format", "systemd"], t.stdout);
      expect(u.stdout, backend).not.toMatch(/^SystemCallFilter=/m);
      expect(u.stdout, backend).toMatch(/SystemCallFilter= left out: the trace followed only some system calls/);
    }
  }, 120000);
});
