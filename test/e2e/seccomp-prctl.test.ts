// seccomp prctl argument filters, for real: a container job that names itself and clears its dumpable
// flag (two prctl options) runs under its profile first try, runc still starts the container (it calls
// prctl after installing the filter), and an option the job never used fails with EPERM.
import { beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run, withHostLock } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/trace-prctl-");
const image = "leastpriv-glibc:1";
// prints each call's result and errno: PR_SET_NAME (15), PR_SET_DUMPABLE (4), then the option asked for
const JOB = "import ctypes, sys\nl = ctypes.CDLL(None, use_errno=True)\n" +
  "for o, a in [(15, b'worker'), (4, 0)] + [(int(x), 1) for x in sys.argv[1:]]:\n" +
  "    r = l.prctl(o, a, 0, 0, 0); print(o, r, ctypes.get_errno() if r < 0 else 0)\n";
const under = (profile: string, ...more: string[]) =>
  spawnSync("docker", ["run", "--rm", "--security-opt", `seccomp=${profile}`, image, "python3", "-c", JOB, ...more], { encoding: "utf8" });

describe("trace-policy --format seccomp: prctl options", () => {
  let trace = "";
  beforeAll(() => {
    execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
    // only one strace can follow containerd at a time: the trace holds the host lock, and waits for another test's to let go
    const traced = () => withHostLock(() => run("trace-run", ["--all-syscalls", "--", "docker", "run", "--rm", "--security-opt", "seccomp=unconfined", image, "python3", "-c", JOB]));
    let r = traced();
    for (const deadline = Date.now() + 300_000; r.stderr.includes("could not attach to containerd") && Date.now() < deadline; r = traced()) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    }
    expect(r.stderr).toBe("15 0 0\n4 0 0\n");
    expect(r.status).toBe(0);
    trace = r.stdout;
    const pol = run("trace-policy", ["--format", "seccomp"], trace);
    expect(pol.status, pol.stderr).toBe(0);
    writeFileSync(tmp + "/prctl.json", pol.stdout);
  }, 420_000);

  it("the profile allows the job's options and runc's; the container starts first try, every time", () => {
    expect(run("trace-summarize", [], trace).records()[0].argValues.prctl).toEqual({ option: ["PR_SET_DUMPABLE", "PR_SET_NAME"] });
    const p = JSON.parse(readFileSync(tmp + "/prctl.json", "utf8"));
    const opts = p.syscalls.filter((r: { names: string[] }) => r.names.includes("prctl")).map((r: { args: { value: number }[] }) => r.args[0].value);
    expect(opts).toEqual([4, 8, 15, 24, 47]);
    for (let i = 0; i < 3; i++) {
      const ok = under(tmp + "/prctl.json");
      expect(ok.stderr).toBe("");
      expect(ok.stdout).toBe("15 0 0\n4 0 0\n");
      expect(ok.status).toBe(0);
    }
  }, 120_000);

  it("an option the job never used fails with EPERM under it, and not without the filter", () => {
    // PR_SET_CHILD_SUBREAPER (36) and PR_SET_PDEATHSIG (1)
    expect(under(tmp + "/prctl.json", "36", "1").stdout).toBe("15 0 0\n4 0 0\n36 -1 1\n1 -1 1\n");
    const pol = run("trace-policy", ["--format", "seccomp", "--no-arg-filters"], trace);
    writeFileSync(tmp + "/open.json", pol.stdout);
    expect(under(tmp + "/open.json", "36", "1").stdout).toBe("15 0 0\n4 0 0\n36 0 0\n1 0 0\n");
  }, 120_000);

  it("without runc's own options the container does not start (what RUNTIME_PRCTL is for)", () => {
    const p = JSON.parse(readFileSync(tmp + "/prctl.json", "utf8"));
    p.syscalls = p.syscalls.filter((r: { names: string[]; args?: { value: number }[] }) => !(r.names.includes("prctl") && [8, 24].includes(r.args![0]!.value)));
    writeFileSync(tmp + "/no-runtime.json", JSON.stringify(p));
    const r = under(tmp + "/no-runtime.json");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/unable to (set keep caps|apply bounding set)/);
  }, 120_000);
});
