// Who is who in a container run, told by what an unprivileged user cannot fake: containerd by its owner
// and docker's socket (not by its name), the runtime's processes by what they execute (not by theirs).
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/trace-ident-");
const syscalls = (recs: any[]) => recs.filter((x) => x.type === "syscall");

// Starts `exe` as `uid` with a pid below `below`, by setting the kernel's last pid (root may) and
// forking at once; retried, as other processes may fork in between. Prints the pid.
// (Python: the last-pid file must be written right before the fork, with nothing forked between.)
const LOW_PID = `
import os, sys
below, uid, exe = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
used = {int(d) for d in os.listdir("/proc") if d.isdigit()}
for want in (p for p in range(300, below) if p not in used):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f: f.write(str(want - 1))
    pid = os.fork()
    if pid == 0:
        # not our stdout: the caller waits for it to close
        null = os.open("/dev/null", os.O_RDWR); [os.dup2(null, fd) for fd in (0, 1, 2)]
        os.setsid(); os.setgid(uid); os.setuid(uid)
        os.execv(exe, ["containerd", "600"])
    if pid < below: print(pid); sys.exit(0)
    os.kill(pid, 9); os.waitpid(pid, 0)
sys.exit(1)
`;

/** The containerd dockerd runs, as the test knows it: dockerd's child, root's. */
function realContainerd(): number {
  const dockerd = Number(readFileSync("/var/run/docker.pid", "utf8"));
  const pid = Number(execFileSync("pgrep", ["-P", String(dockerd), "-x", "containerd"], { encoding: "utf8" }).trim().split("\n")[0]);
  expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^Uid:\s+0\s/m);
  return pid;
}

describe("containerd: by owner and socket", () => {
  let impostor: number | undefined;
  beforeAll(() => {
    const info = spawnSync("docker", ["info"], { encoding: "utf8" });
    if (info.status !== 0) throw new Error("these tests need a running Docker daemon (.ci/run starts one): " + info.stderr.trim());
    execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
    chmodSync(tmp, 0o755);
  }, 180000);
  afterAll(() => {
    if (impostor !== undefined) { try { process.kill(impostor, "SIGKILL"); } catch { /* gone */ } }
    rmSync(tmp, { recursive: true, force: true });
  });

  it("a user's process named containerd, with a lower pid than the real one, is not attached to; the container's files are seen", () => {
    const real = realContainerd();
    // an ordinary program under the name containerd (the kernel names a process after its file)
    copyFileSync("/usr/bin/sleep", tmp + "/containerd");
    chmodSync(tmp + "/containerd", 0o755);
    writeFileSync(tmp + "/low-pid.py", LOW_PID);
    const nobody = Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }).trim());
    impostor = Number(execFileSync("/usr/bin/python3", [tmp + "/low-pid.py", String(real), String(nobody), tmp + "/containerd"], { encoding: "utf8" }).trim());
    expect(impostor).toBeLessThan(real);
    // the child execs after its parent printed its pid: its name is its program's once it has
    const comm = () => readFileSync(`/proc/${impostor}/comm`, "utf8");
    for (const until = Date.now() + 10000; comm() !== "containerd\n" && Date.now() < until;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    expect(comm()).toBe("containerd\n");

    const r = run("trace-run", ["--backend", "strace", "--", "docker", "run", "--rm", "leastpriv-test:1"]);
    expect(r.status).toBe(0);
    const recs = r.records();
    // before: the impostor was attached (run.containerd), and nothing of the container was seen
    expect(recs[0].containerd).toBe(real);
    const read = syscalls(recs).find((x) => x.syscall === "openat" && x.path === "/data/secret.txt");
    expect(read).toMatchObject({ ok: true, containerPath: true });
    expect(read.runtime).toBeUndefined();
  }, 120000);
});

describe("the runtime's processes: by what they execute, not by name", () => {
  const ctr = `leastpriv-ident-test-${process.pid}`;
  afterAll(() => { spawnSync("docker", ["rm", "-f", ctr]); });

  for (const backend of ["bpftrace", "strace"]) {
    it(`--backend ${backend}: a program called /runc-init is the application's, and so are its secret and its /etc/marker`, () => {
      const r = run("trace-run", ["--backend", backend, "--", "docker", "run", "--rm", "leastpriv-test:runc-init"]);
      expect(r.status).toBe(0);
      expect(r.stderr).toBe("for the container only\n");
      const c = syscalls(r.records());
      const exec = c.find((x) => x.syscall === "execve" && x.path === "/runc-init" && x.ok);
      const read = c.find((x) => x.syscall === "openat" && x.path === "/data/secret.txt");
      const made = c.find((x) => x.syscall === "openat" && x.path === "/etc/marker");
      // before (bpftrace): all three marked runtime, and so left out of the profile
      for (const x of [exec, read, made]) {
        expect(x).toMatchObject({ ok: true, containerPath: true });
        expect(x.runtime).toBeUndefined();
      }
      // the runtime's own set-up is still marked
      expect(c.filter((x) => x.runtime).length).toBeGreaterThan(0);
      expect(c.filter((x) => x.comm?.startsWith("runc:[")).every((x) => x.runtime)).toBe(true);
      const profile = spawnSync(process.execPath, [ROOT + "dist/commands/trace-summarize.js"], { input: r.stdout, encoding: "utf8" });
      expect(profile.stdout).toContain("/data/secret.txt");
      expect(profile.stdout).toContain("/etc/marker");
    }, 120000);
  }

  it("--backend bpftrace --container: the container's running program is the application's, and so is what docker exec runs as /runc-init", async () => {
    execFileSync("docker", ["run", "-d", "--name", ctr, "leastpriv-test:runc-init", "sh", "-c", "while :; do cat /data/secret.txt >/dev/null; sleep 0.2; done"]);
    const child = spawn(process.execPath, [ROOT + "dist/commands/trace-run.js", "--backend", "bpftrace", "--container", ctr], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    const done = new Promise<number | null>((res) => child.on("close", (code) => res(code)));
    // the loop's reads show that the probes are in
    for (let i = 0; i < 600 && !out.includes('"/data/secret.txt"'); i++) await new Promise((r) => setTimeout(r, 50));
    execFileSync("docker", ["exec", ctr, "/runc-init"]);
    execFileSync("docker", ["rm", "-f", ctr]);
    expect(await done).toBe(0);
    expect(err).toBe("");
    const c = syscalls(out.trim().split("\n").map((l) => JSON.parse(l)));
    const loop = c.filter((x) => x.syscall === "openat" && x.path === "/data/secret.txt");
    expect(loop.length).toBeGreaterThan(0);
    // before: every call of the running program was marked runtime (it started before the trace)
    expect(loop.filter((x) => x.runtime)).toEqual([]);
    const made = c.find((x) => x.syscall === "openat" && x.path === "/etc/marker");
    expect(made).toMatchObject({ ok: true });
    expect(made.runtime).toBeUndefined();
  }, 120000);
});
