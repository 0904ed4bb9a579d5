// What each of trace-run's backends takes of its options, as they declare it (lib/run/registry.ts), and
// the refusals made from those declarations before anything runs.
import { describe, expect, it } from "vitest";
import { BACKENDS, backendNamed, refusal, takes, usageError, wanted, type Wanted } from "../../lib/run/registry.js";

const ALL: Wanted[] = ["pid", "container", "cost", "all-syscalls", "strace-arg", "raw"];
const strace = backendNamed("strace"), bpftrace = backendNamed("bpftrace"), ebpf = backendNamed("ebpf");

describe("backend capabilities", () => {
  it("the options each backend takes, as trace-run(1) BACKENDS says", () => {
    const table = Object.fromEntries(BACKENDS.map((b) => [b.name, ALL.filter((w) => takes(b, w))]));
    expect(table).toEqual({
      strace: ["pid", "cost", "all-syscalls", "strace-arg", "raw"],
      bpftrace: ["container", "raw"],
      ebpf: ["container", "raw"],
    });
  });

  it("an option is refused exactly where the backend does not take it, and the message names who does", () => {
    for (const b of BACKENDS) {
      for (const w of ALL) {
        const why = refusal(b, [w]);
        if (takes(b, w)) { expect(why, `${b.name} ${w}`).toBeUndefined(); continue; }
        expect(why, `${b.name} ${w}`).toMatch(new RegExp(`^--${w}`));
        for (const other of BACKENDS.filter((x) => takes(x, w))) expect(why).toContain(other.name);
      }
    }
  });

  it("the refusals trace-run has always given", () => {
    expect(refusal(bpftrace, ["pid"])).toBe("--pid is for the strace backend (with bpftrace, trace a container with --container)");
    expect(refusal(ebpf, ["all-syscalls"])).toBe("--all-syscalls is for the strace backend");
    expect(refusal(ebpf, ["cost"])).toBe("--cost counts bytes by tracing reads and writes, which only the strace backend does (the ebpf backend measures CPU and memory without it)");
    expect(refusal(ebpf, ["raw"])).toBeUndefined();
    expect(refusal(strace, ["container"])).toMatch(/^--container needs --backend (bpftrace or ebpf|ebpf or bpftrace) \(with strace, attach to a process with -p\)$/);
  });

  it("what a command line asks, from the options as trace-run's parser gives them", () => {
    expect(wanted({})).toEqual([]);
    expect(wanted({ cost: false, allSyscalls: false })).toEqual([]);
    expect(wanted({ pid: [1], cost: true, allSyscalls: true, straceArgs: ["-v"], raw: "x", container: "c" }))
      .toEqual(["pid", "container", "cost", "all-syscalls", "strace-arg", "raw"]);
    expect(usageError("bpftrace", { cost: true })).toMatch(/^--cost counts bytes/);
    expect(usageError("strace", { cost: true, pid: [1] })).toBeUndefined();
  });
});
