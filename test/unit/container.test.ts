// trace-run -- docker run keeps one container out of everything containerd does. The fixture is
// trace-run's own strace, attached to containerd, while a second container started beside ours
// (capture.sh: twoctr): each is kept by its id, and neither when the id is not known.
import { describe, expect, it } from "vitest";
import { calls, fixture } from "../helpers.js";
import { ContainerScope, dockerRunIndex, podmanRunIndex, withCidfile } from "../../lib/container.js";
import type { SyscallRecord, TraceRecord } from "../../lib/records.js";

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
