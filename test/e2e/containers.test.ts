// Containers for real: dockerd (started by .ci/run), local images from test/containers/build-images.sh.
import { describe, expect, it, beforeAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run, withHostLock } from "../helpers.js";
import { containerdPid } from "../../lib/run/container.js";
import { end, execOf, has, nothingLeft, start, until, type Run } from "../faults.js";

const tmp = mkdtempSync(tmpdir() + "/trace-ctr-");

describe("trace-run -- docker run", () => {
  beforeAll(() => {
    const info = spawnSync("docker", ["info"], { encoding: "utf8" });
    if (info.status !== 0) throw new Error("these tests need a running Docker daemon (.ci/run starts one): " + info.stderr.trim());
    execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
  }, 120000);

  it("a file read inside the container appears, attributed to it; the daemons' own activity does not", () => {
    const r = run("trace-run", ["--backend", "strace", "--", "docker", "run", "--rm", "leastpriv-test:1", "cat", "/data/secret.txt"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("for the container only\n");          // the container's stdout, on our stderr
    const recs = r.records();
    const end = recs.at(-1);
    expect(end).toMatchObject({ type: "end", exit: 0, unparsed: 0, container: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(end.dropped).toBeGreaterThan(0);
    const sys = recs.filter((x) => x.type === "syscall");
    const read = sys.find((x) => x.syscall === "openat" && x.path === "/data/secret.txt");
    expect(read).toMatchObject({ op: "read", ok: true, container: end.container, containerPath: true });
    expect(read.runtime).toBeUndefined();
    expect(sys.find((x) => x.syscall === "execve" && x.path === "/bin/cat")).toMatchObject({ ok: true, container: end.container, argv: ["cat", "/data/secret.txt"] });
    expect(sys.filter((x) => x.path === "/usr/sbin/runc" && x.syscall === "execve").every((x) => x.runtime === true)).toBe(true);
    expect(sys.every((x) => x.container === end.container)).toBe(true);
    const cd = containerdPid();
    expect(sys.some((x) => x.pid === cd)).toBe(false);
    expect(sys.some((x) => /meta\.db$/.test(x.path ?? ""))).toBe(false);      // containerd's own database
  }, 60000);

  it("the client's exit status is trace-run's", () => {
    const r = run("trace-run", ["--", "docker", "run", "--rm", "leastpriv-test:1", "sh", "-c", "exit 7"]);
    expect(r.status).toBe(7);
    expect(r.records().at(-1)).toMatchObject({ type: "end", exit: 7 });
  }, 60000);

  for (const backend of ["strace", "bpftrace"]) {
    it(`--backend ${backend}, docker run -d: the trace ends with the client, and says the container ran on`, () => {
      const r = run("trace-run", ["--backend", backend, "--", "docker", "run", "-d", "--rm", "leastpriv-test:1", "sleep", "3"]);
      expect(r.status).toBe(0);
      // the client prints the container's id (on our stderr), then trace-run says what it could not see
      expect(r.stderr).toBe(`${r.records().at(-1).container}\ntrace-run: the container was still running when its client returned (docker run -d?): ` +
        "it is traced only until then; to follow a running container, use --backend bpftrace --container ID\n");
      const sleeping = r.records().find((x: any) => x.type === "syscall" && x.kind === "exec" && x.ok && x.argv?.[0] === "sleep");
      expect(sleeping).toMatchObject({ container: expect.stringMatching(/^[0-9a-f]{64}$/) });
    }, 60000);
  }

  it("trace-diff catches an image whose second version opens a network connection", () => {
    const traced = (image: string) => {
      const r = run("trace-run", ["--", "docker", "run", "--rm", image]);
      expect(r.stderr).not.toContain("trace-run:");
      expect(r.status).toBe(0);
      expect(r.records().at(-1)).toMatchObject({ type: "end", container: expect.stringMatching(/^[0-9a-f]{64}$/) });
      return r.stdout;
    };
    const v1 = traced("leastpriv-test:1");
    const v2 = traced("leastpriv-test:2");
    const port9 = '"addr":{"family":"inet","proto":"TCP","ip":"127.0.0.1","port":9}';
    expect(v1).not.toContain(port9);
    expect(v2).toContain(port9);
    // what decides the marks, for a failure to show: execs, forks and exits of the container's processes
    const marks = (out: string) => out.split("\n").filter(Boolean).map((l) => JSON.parse(l))
      .filter((x) => x.type === "exit" || (x.type === "syscall" && (x.kind === "exec" || x.op === "fork" || x.syscall === "pivot_root" || x.syscall === "connect")))
      .filter((x) => x.containerPath || x.runtime === undefined || x.syscall === "pivot_root")
      .map((x) => [x.pid, x.syscall ?? "exit", x.ret ?? x.code, x.retnote, x.argv?.join(" "), x.runtime ? "runtime" : "app"].filter((y) => y !== undefined).join(" "))
      .join("\n").slice(-4000);
    const connect = v2.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((x) => x.syscall === "connect" && x.addr?.port === 9);
    expect(connect.runtime, marks(v2)).toBeUndefined();
    writeFileSync(tmp + "/image.profile", run("trace-summarize", [], v1).stdout);
    // the same image again: clean (the runtime's per-container paths are left out of profiles)
    const again = run("trace-diff", ["--format", "text", tmp + "/image.profile"], run("trace-run", ["--", "docker", "run", "--rm", "leastpriv-test:1"]).stdout);
    expect(again.stdout).toMatch(/^0 differences/m);
    expect(again.status).toBe(0);
    const d = run("trace-diff", [tmp + "/image.profile"], v2);
    expect(d.status, marks(v2)).toBe(1);
    const failing = d.records().filter((x) => x.fails);
    expect(failing).toEqual(expect.arrayContaining([expect.objectContaining({ kind: "net", role: "peer", ops: ["connect"], addr: expect.objectContaining({ ip: "127.0.0.1", port: 9 }) })]));
    expect(run("trace-diff", ["--allow", "net:127.0.0.1:9", "--allow", "socket:TCP", tmp + "/image.profile"], v2).status).toBe(0);
  }, 120000);
});

describe("trace-policy --format seccomp", () => {
  it("a profile from a full trace lets the container run, and denies a call the run never made", () => {
    execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
    const trace = run("trace-run", ["--all-syscalls", "--", "docker", "run", "--rm", "leastpriv-test:1", "cat", "/data/secret.txt"]);
    expect(trace.status).toBe(0);
    const pol = run("trace-policy", ["--format", "seccomp"], trace.stdout);
    expect(pol.status).toBe(0);
    const profile = JSON.parse(pol.stdout);
    expect(profile).toMatchObject({ defaultAction: "SCMP_ACT_ERRNO", architectures: expect.arrayContaining(["SCMP_ARCH_X86_64"]) });
    expect(profile.syscalls[0].names).toContain("sendfile");                   // cat's own
    expect(profile.syscalls[0].names).not.toContain("socket");
    // prctl rules by option come between: the program's options and runc's
    expect(profile.syscalls.find((r: any) => r.errnoRet === 38)).toMatchObject({ names: expect.arrayContaining(["clone3"]), action: "SCMP_ACT_ERRNO", errnoRet: 38 });
    expect(profile.syscalls.filter((r: any) => r.names.includes("prctl")).map((r: any) => r.args[0].value)).toEqual(expect.arrayContaining([8, 24, 47]));
    writeFileSync(tmp + "/seccomp.json", pol.stdout);
    const ok = spawnSync("docker", ["run", "--rm", "--security-opt", `seccomp=${tmp}/seccomp.json`, "leastpriv-test:1", "cat", "/data/secret.txt"], { encoding: "utf8" });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe("for the container only\n");
    const denied = spawnSync("docker", ["run", "--rm", "--security-opt", `seccomp=${tmp}/seccomp.json`, "leastpriv-test:1", "nc", "127.0.0.1", "9"], { encoding: "utf8" });
    expect(denied.status).not.toBe(0);
    expect(denied.stderr).toContain("socket: Operation not permitted");
  }, 120000);

  it("refuses a trace of only some system calls", () => {
    const trace = run("trace-run", ["--", "docker", "run", "--rm", "leastpriv-test:1", "cat", "/data/secret.txt"]).stdout;
    const r = run("trace-policy", ["--format", "seccomp"], trace);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^trace-policy: the trace followed only some system calls/);
    expect(run("trace-policy", ["--format", "seccomp", "--allow-filtered"], trace).status).toBe(0);
  }, 60000);
});

// A job whose only sockets are AF_UNIX (glibc's nscd lookup), which starts a thread (glibc's clone3)
// and makes a user namespace. It is traced without docker's own seccomp profile, which refuses
// unshare: the trace is of what the program needs. Only one strace can follow containerd at a time,
// so the trace holds the host lock.
describe("trace-policy --format seccomp: argument filters", () => {
  const image = "leastpriv-glibc:1";
  const job = "import socket, threading, pwd\ns = socket.socket(socket.AF_UNIX); s.close()\n" +
    "t = threading.Thread(target=lambda: None); t.start(); t.join()\nprint(pwd.getpwnam('root').pw_uid)\n";
  const under = (profile: string, ...cmd: string[]) =>
    spawnSync("docker", ["run", "--rm", "--security-opt", `seccomp=${profile}`, image, ...cmd], { encoding: "utf8" });
  let trace = "";
  beforeAll(() => {
    execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
    if (spawnSync("docker", ["image", "inspect", image]).status !== 0) throw new Error(`${image} is missing: test/containers/build-images.sh builds it`);
    const traced = () => withHostLock(() => run("trace-run", ["--all-syscalls", "--", "docker", "run", "--rm", "--security-opt", "seccomp=unconfined", image,
      "sh", "-c", 'python3 -c "$0" && unshare -U true', job]));
    // another test's strace may hold containerd (it takes one tracer): wait until it lets go
    let r = traced();
    for (const deadline = Date.now() + 300_000; r.stderr.includes("could not attach to containerd") && Date.now() < deadline; r = traced()) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    }
    expect(r.stderr).toBe("0\n");
    expect(r.status).toBe(0);
    trace = r.stdout;
    const pol = run("trace-policy", ["--format", "seccomp"], trace);
    expect(pol.status).toBe(0);
    writeFileSync(tmp + "/args.json", pol.stdout);
  }, 420000);

  it("the profile keeps the values seen, and the job runs under its policy first try", () => {
    const h = run("trace-summarize", [], trace).records()[0];
    expect(h.argValues).toMatchObject({ socket: { family: ["AF_UNIX"] }, unshare: { flags: ["CLONE_NEWUSER"] }, clone3: { flags: [expect.not.stringContaining("CLONE_NEW")] } });
    const p = JSON.parse(readFileSync(tmp + "/args.json", "utf8"));
    expect(p.syscalls.filter((r: any) => r.names.includes("socket"))).toEqual([expect.objectContaining({ args: [expect.objectContaining({ index: 0, value: 1, op: "SCMP_CMP_EQ" }), expect.objectContaining({ index: 1 })] })]);
    for (let i = 0; i < 3; i++) {         // every time, not once in a while
      const ok = under(tmp + "/args.json", "sh", "-c", 'python3 -c "$0" && unshare -U true && echo done', job);
      expect(ok.stderr).toBe("");
      expect(ok.stdout).toBe("0\ndone\n");
      expect(ok.status).toBe(0);
    }
  }, 60000);

  it("under the same policy an AF_INET socket fails with EPERM, and so does a network namespace", () => {
    const inet = under(tmp + "/args.json", "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 8080))");
    expect(inet.status).toBe(1);
    expect(inet.stderr).toMatch(/PermissionError: \[Errno 1\] Operation not permitted\n$/);
    const netns = under(tmp + "/args.json", "unshare", "-U", "-n", "true");
    expect(netns.status).toBe(1);
    expect(netns.stderr).toMatch(/^unshare: unshare failed: Operation not permitted/);
  }, 60000);

  it("--no-arg-filters allows them whatever their arguments", () => {
    const pol = run("trace-policy", ["--format", "seccomp", "--no-arg-filters"], trace);
    expect(pol.status).toBe(0);
    expect(JSON.parse(pol.stdout).syscalls.some((r: any) => r.args)).toBe(false);
    writeFileSync(tmp + "/no-args.json", pol.stdout);
    expect(under(tmp + "/no-args.json", "unshare", "-U", "-n", "true").status).toBe(0);
    // refused by the connection, not by the policy
    expect(under(tmp + "/no-args.json", "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 8080))").stderr).toMatch(/ConnectionRefusedError/);
  }, 60000);
});

// podman has no daemon: conmon and the runtime are the client's own descendants, so both backends
// follow `podman run` as the process tree it is, and mark what is not the container's program as
// `runtime`. This host's hard limits are below podman's default rlimits, which runc then cannot set:
// podman itself needs the two --ulimit options here.
describe("trace-run -- podman run", () => {
  const podman = ["podman", "run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--rm"];
  beforeAll(() => {
    const v = spawnSync("podman", ["--version"], { encoding: "utf8" });
    if (v.status !== 0) throw new Error("these tests need podman (.ci/run installs it)");
    execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
  }, 120000);

  const programs = (recs: any[]) => recs.filter((x) => x.type === "syscall" && x.kind === "exec" && x.ok).map((x) => x.argv.join(" "));

  for (const backend of ["strace", "bpftrace"]) {
    it(`--backend ${backend}: the container's program and its file, marked with its id; conmon and runc as runtime; its exit status`, () => {
      const r = run("trace-run", ["--backend", backend, "--", ...podman, "leastpriv-test:1", "cat", "/data/secret.txt"]);
      expect(r.stderr).toBe("for the container only\n");          // the container's stdout, on our stderr
      expect(r.status).toBe(0);
      const recs = r.records();
      const end = recs.at(-1);
      expect(end).toMatchObject({ type: "end", exit: 0, unparsed: 0, container: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(recs[0].argv).toEqual([...podman, "leastpriv-test:1", "cat", "/data/secret.txt"]);   // as given, without our --cidfile
      const sys = recs.filter((x) => x.type === "syscall");
      const cat = sys.find((x) => x.kind === "exec" && x.ok && x.argv?.join(" ") === "cat /data/secret.txt");
      expect(cat).toMatchObject({ container: end.container });
      expect(cat.runtime).toBeUndefined();
      expect(sys.find((x) => x.syscall === "openat" && x.path === "/data/secret.txt" && x.pid === cat.pid)).toMatchObject({ op: "read", ok: true, containerPath: true });
      for (const engine of [/\/conmon$/, /\/runc$/]) {
        const execs = sys.filter((x) => x.kind === "exec" && x.ok && engine.test(x.path));
        expect(execs.length).toBeGreaterThan(0);
        expect(execs.every((x) => x.runtime === true)).toBe(true);
      }
      // the program's own calls are few; podman's, conmon's and runc's are thousands
      expect(sys.filter((x) => !x.runtime).length).toBeLessThan(50);
      expect(sys.filter((x) => x.runtime).length).toBeGreaterThan(1000);
      const seven = run("trace-run", ["--backend", backend, "--", ...podman, "leastpriv-test:1", "sh", "-c", "exit 7"]);
      expect(seven.status).toBe(7);
      expect(seven.records().at(-1)).toMatchObject({ type: "end", exit: 7 });
    }, 60000);
  }

  it("a baseline from one backend: the same image under the other, or under docker, diffs clean; the next version fails on its connection", () => {
    const trace = (backend: string, image: string) => {
      const r = run("trace-run", ["--backend", backend, "--", ...podman, image]);
      expect(r.status).toBe(0);
      return r.stdout;
    };
    writeFileSync(tmp + "/podman.profile", run("trace-summarize", [], trace("strace", "leastpriv-test:1")).stdout);
    const again = run("trace-diff", ["--format", "text", tmp + "/podman.profile"], trace("bpftrace", "leastpriv-test:1"));
    expect(again.stdout).toBe("0 differences, 0 failing\n");
    expect(again.status).toBe(0);
    // and under docker: the same container, the same profile
    const docker = run("trace-run", ["--", "docker", "run", "--rm", "leastpriv-test:1"]);
    expect(docker.status).toBe(0);
    expect(run("trace-diff", ["--format", "text", tmp + "/podman.profile"], docker.stdout).stdout).toBe("0 differences, 0 failing\n");
    const d = run("trace-diff", [tmp + "/podman.profile"], trace("bpftrace", "leastpriv-test:2"));
    expect(d.status).toBe(1);
    expect(d.records().filter((x) => x.fails)).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: "net", role: "peer", ops: ["connect"], addr: expect.objectContaining({ ip: "127.0.0.1", port: 9 }) })]));
  }, 60000);

  it("both backends see the same programs run inside the container", () => {
    const inside = (backend: string) => {
      const r = run("trace-run", ["--backend", backend, "--", ...podman, "leastpriv-test:2"]);
      expect(r.status).toBe(0);
      // the container's programs: from its entry point on, in the order they ran
      const all = programs(r.records());
      return all.slice(all.indexOf("/app/run.sh"));
    };
    const s = inside("strace"), b = inside("bpftrace");
    expect(s.slice(0, 3)).toEqual(["/app/run.sh", "cat /data/secret.txt", "nc -w 1 127.0.0.1 9"]);
    expect(b.slice(0, 3)).toEqual(s.slice(0, 3));
  }, 60000);
});

// strace may print a child's first calls, even its whole execve, before its parent's vfork returns:
// a glibc shell vforks each ls, and every one must be kept as the container's, run after run.
describe("every program a container runs is kept (strace, glibc image)", () => {
  const loop = ["leastpriv-glibc-loop:1", "sh", "-c", "for i in $(seq 30); do ls / >/dev/null; done"];
  const lsRuns = (recs: any[]) => recs.filter((x) => x.type === "syscall" && x.kind === "exec" && x.ok && x.argv?.[0] === "ls");
  const engines: [string, string[], number][] = [
    ["docker", ["docker", "run", "--rm"], 10],
    ["podman", ["podman", "run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--rm"], 5],
  ];
  for (const [engine, argv, times] of engines) {
    it(`${engine} run: all 30 execs of ls, none marked runtime, in each of ${times} runs`, () => {
      execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
      const seen: number[] = [];
      for (let i = 0; i < times; i++) {
        const r = run("trace-run", ["--backend", "strace", "--", ...argv, ...loop]);
        expect(r.status, r.stderr).toBe(0);
        const ls = lsRuns(r.records());
        expect(ls.filter((x) => x.runtime)).toEqual([]);
        seen.push(ls.length);
      }
      expect(seen).toEqual(Array(times).fill(30));
    }, 300000);
  }
});

// Only one tracer can hold containerd: a second docker run trace under strace must fail at once, with
// the reason and the alternative, and its stream must end. (Here, not in faults.test.ts: the tests of
// this file trace containerd too, and run one after another.)
describe("faults: two container traces at once (strace)", () => {
  beforeAll(() => { execFileSync("bash", [ROOT + "test/containers/build-images.sh"]); }, 120000);

  it("the second fails with the reason and the alternative, and its stream ends; the first is whole", async () => {
    // other test files may trace containerd for a moment too: the first run waits its turn
    let first: Run;
    for (let tries = 0; ; tries++) {
      first = start(["--backend", "strace", "--", "docker", "run", "--rm", "leastpriv-test:1", "sh", "-c", "sleep 4; cat /data/secret.txt"]);
      let ended = false;
      first.done.then(() => { ended = true; });
      await until(() => ended || has(first, execOf("sleep"))(), 60000, "the first container to run");
      if (!ended) break;
      // (another file's trace held containerd: this one could not attach, or attached too late)
      expect(tries, first.stderr()).toBeLessThan(30);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const second = start(["--backend", "strace", "--", "docker", "run", "--rm", "leastpriv-test:1", "true"]);
    const s2 = await second.done;
    expect(s2.code).toBe(125);
    expect(second.stderr()).toMatch(/^trace-run: strace could not attach to containerd \(pid \d+\): it is traced already, by strace \(pid \d+\).*--backend bpftrace/);
    expect(second.stderr().trim().split("\n")).toHaveLength(1);
    expect(second.records().map((r) => r.type)).toEqual(["run", "end"]);
    expect(end(second)).toMatchObject({ exit: 125, ended: "not-started", complete: false, incomplete: ["strace could not attach to containerd"] });
    const s1 = await first.done;
    expect(s1.code).toBe(0);
    expect(end(first)).toMatchObject({ exit: 0, ended: "exited", complete: true });
    await nothingLeft(first);
    await nothingLeft(second);
  }, 120000);
});
