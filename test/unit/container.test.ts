// trace-run -- docker run keeps one container out of everything containerd does. The fixture is
// trace-run's own strace, attached to containerd, while a second container started beside ours
// (capture.sh: twoctr): each is kept by its id, and neither when the id is not known.
import { describe, expect, it } from "vitest";
import { calls, fixture } from "../helpers.js";
import { ContainerScope, ParentageHold, dockerRunIndex, podmanRunIndex, withCidfile } from "../../lib/run/container.js";
import { childPid } from "../../lib/trace/resolver.js";
import type { SyscallRecord, TraceRecord } from "../../lib/io/records.js";

const all = fixture("two-containers.strace");
const shimIds = [...new Set(calls(all, "execve").filter((r) => r.ok && /containerd-shim/.test(r.path ?? ""))
  .map((r) => r.argv![r.argv!.indexOf("-id") + 1]))];

function scoped(id: string | undefined) {
  const scope = new ContainerScope(() => id);
  const kept = all.map((r) => scope.scope(structuredClone(r))).filter((r): r is TraceRecord => r !== null);
  return { scope, kept, sys: kept.filter((r): r is SyscallRecord => r.type === "syscall") };
}
const programs = (sys: SyscallRecord[]) => sys.filter((r) => r.kind === "exec" && r.ok && !r.runtime).map((r) => r.argv);

describe("ContainerScope: two containers starting together", () => {
  it("the capture holds both", () => {
    expect(shimIds).toHaveLength(2);
  });

  it("each container, by its id: its own programs, runtime and shim, nothing of the other", () => {
    const apps = shimIds.map((id) => {
      const { scope, sys } = scoped(id);
      expect(scope.id).toBe(id);
      expect(sys.every((r) => r.container === id)).toBe(true);
      // every shim or runc the scope kept was started for this container
      const other = shimIds.find((x) => x !== id)!;
      expect(sys.some((r) => JSON.stringify(r.argv ?? []).includes(other) || (r.path ?? "").includes(other))).toBe(false);
      expect(sys.some((r) => r.kind === "exec" && r.runtime && /runc$/.test(r.path ?? ""))).toBe(true);
      return programs(sys);
    });
    expect(apps.map((p) => p.map((argv) => argv![0]))).toEqual(expect.arrayContaining([["cat"], ["ls"]]));
    expect(apps.flat()).toEqual(expect.arrayContaining([["cat", "/data/secret.txt"], ["ls", "/data"]]));
  });

  it("until the client has named its container, no shim is taken for it", () => {
    const { scope, kept } = scoped(undefined);
    expect(scope.id).toBeUndefined();
    expect(kept.filter((r) => r.type === "syscall" || r.type === "exit" || r.type === "signal")).toEqual([]);
    expect(scope.dropped).toBe(all.filter((r) => r.type === "syscall" || r.type === "exit" || r.type === "signal").length);
  });
});

describe("which commands start a container", () => {
  it("docker run and podman run, with global options and the container subcommand", () => {
    expect(dockerRunIndex(["docker", "run", "img"])).toBe(1);
    expect(dockerRunIndex(["/usr/bin/docker", "-H", "unix:///x.sock", "container", "run", "img"])).toBe(4);
    expect(dockerRunIndex(["docker", "ps"])).toBe(-1);
    expect(podmanRunIndex(["podman", "run", "--rm", "img"])).toBe(1);
    expect(podmanRunIndex(["podman", "--runtime", "runc", "--log-level=debug", "container", "run", "img"])).toBe(5);
    expect(podmanRunIndex(["podman", "build", "."])).toBe(-1);
    expect(podmanRunIndex(["docker", "run", "img"])).toBe(-1);
    expect(withCidfile(["podman", "run", "--rm", "img"], 1, "/tmp/x/cid")).toEqual(["podman", "run", "--cidfile", "/tmp/x/cid", "--rm", "img"]);
  });
});

// A real capture (capture.sh: vforkctr) in which strace printed an ls's whole execve before the
// vfork of its shell had returned: the child is not yet known to be the container's when its first
// records come. Every one of the ten programs must be kept, as the application's.
describe("ContainerScope behind ParentageHold: a child seen before its parent's fork returns", () => {
  const recs = fixture("vfork-container.strace");
  const shims = [...new Set(calls(recs, "execve").filter((r) => r.ok && /containerd-shim/.test(r.path ?? "")).map((r) => r.argv![r.argv!.indexOf("-id") + 1]))];
  // containerd's threads when strace attached: the processes no fork of the capture made
  const born = new Set(calls(recs).filter((r) => r.kind === "proc" && r.op === "fork" && r.ok).map((r) => childPid(r)));
  const roots = [...new Set(recs.flatMap((r) => ("pid" in r && typeof r.pid === "number" && !born.has(r.pid) ? [r.pid] : [])))];
  const lsExecs = (sys: TraceRecord[]) => sys.filter((r): r is SyscallRecord => r.type === "syscall" && r.kind === "exec" && r.ok === true && r.argv?.[0] === "ls");

  function held(id: string) {
    const kept: TraceRecord[] = [];
    const scope = new ContainerScope(() => id);
    const hold = new ParentageHold((r) => { const s = scope.scope(r); if (s) kept.push(s); }, roots);
    for (const r of recs) hold.push(structuredClone(r));
    hold.end();
    return { kept, scope, hold };
  }

  it("the capture shows it: an ls's execve ends before the fork that made it", () => {
    const firstSeen = new Map<number, number>();
    recs.forEach((r, i) => { if ("pid" in r && typeof r.pid === "number" && !firstSeen.has(r.pid)) firstSeen.set(r.pid, i); });
    const early = lsExecs(recs).filter((e) => {
      const fork = recs.findIndex((r) => r.type === "syscall" && r.kind === "proc" && r.op === "fork" && r.ok && childPid(r) === e.pid);
      return fork > recs.indexOf(e);
    });
    expect(early.length).toBeGreaterThan(0);
  });

  it("all ten programs are the container's own, none marked runtime", () => {
    const ours = shims.filter((id) => lsExecs(held(id).kept).length > 0);
    expect(ours).toHaveLength(1);
    const { kept, scope, hold } = held(ours[0]);
    expect(scope.id).toBe(ours[0]);
    expect(lsExecs(kept)).toHaveLength(10);
    expect(lsExecs(kept).filter((r) => r.runtime)).toEqual([]);
    expect(kept.every((r) => r.type !== "syscall" || r.container === ours[0])).toBe(true);
    expect(hold.waiting).toBe(0);
    // without the hold, the scope drops what came early (what trace-run did before)
    const bare = new ContainerScope(() => ours[0]);
    expect(lsExecs(recs.map((r) => bare.scope(structuredClone(r))).filter((r): r is TraceRecord => r !== null)).length).toBeLessThan(10);
  });

  it("the daemons' own records are still left out, and counted", () => {
    const id = shims.find((x) => lsExecs(held(x).kept).length > 0)!;
    const { kept, scope } = held(id);
    const procRecs = recs.filter((r) => r.type === "syscall" || r.type === "exit" || r.type === "signal").length;
    expect(kept.filter((r) => r.type === "syscall" || r.type === "exit" || r.type === "signal").length + scope.dropped).toBe(procRecs);
    expect(kept.some((r) => r.type === "syscall" && roots.includes(r.pid as number))).toBe(false);
  });
});

describe("ParentageHold on a command's own tree (podman run)", () => {
  it("the first process is the root; a child's records follow its parent's fork", () => {
    const recs = fixture("vfork-clone3.strace");
    const out: TraceRecord[] = [];
    const hold = new ParentageHold((r) => out.push(r));
    for (const r of recs) hold.push(r);
    hold.end();
    expect(out).toHaveLength(recs.length);
    for (const [i, r] of out.entries()) {
      if (r.type !== "syscall" || r.pid === recs.find((x) => x.type === "syscall")!.pid) continue;
      const fork = out.findIndex((x) => x.type === "syscall" && x.kind === "proc" && x.op === "fork" && x.ok && childPid(x) === r.pid);
      expect(fork).toBeGreaterThanOrEqual(0);
      expect(fork).toBeLessThan(i);
    }
  });
});
