// The container cases every kernel-side backend (bpftrace, ebpf) must pass alike, registered in each
// backend's own test file: docker run and podman run (the runtime marked; every exec of a loop seen,
// run after run), and a running container (--container) that docker exec runs programs in.
import { afterAll, beforeAll, expect, it } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run } from "./helpers.js";
import type { SyscallRecord } from "../lib/io/records.js";

const calls = (recs: any[]): SyscallRecord[] => recs.filter((x) => x.type === "syscall");
const execs = (recs: any[], argv0: string): SyscallRecord[] => calls(recs).filter((x) => x.kind === "exec" && x.ok && x.argv?.[0] === argv0);

// This host's hard limits are below podman's default rlimits, which runc then cannot set: podman itself
// needs the two --ulimit options here (as in containers.test.ts)
const PODMAN = ["podman", "run", "--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--rm"];
// a glibc shell vforks each ls: every exec must be seen and kept as the container's
const LOOP = ["leastpriv-glibc-loop:1", "sh", "-c", "for i in $(seq 30); do ls / >/dev/null; done"];

/**
 * A whole trace's end: the command's status passed on, nothing lost, nothing cut short. But for one
 * thing, said: an eBPF probe cannot read a string in a page not yet in memory (conmon's constants in
 * runc's argv, now and then), so the end may say "lost N argument pieces" and nothing else, and then
 * only records of the runtime miss an argument (the container's program's are whole).
 */
function wholeEnd(recs: any[], exit: number) {
  const end = recs.at(-1);
  expect(end).toMatchObject({ type: "end", exit, ended: "exited", unparsed: 0, lost: 0, container: expect.stringMatching(/^[0-9a-f]{64}$/) });
  const missing = calls(recs).filter((x) => x.missing);
  if (end.complete === false) {
    const n = end.lostKinds?.argument;
    expect(end.incomplete).toEqual([`lost ${n} argument ${n === 1 ? "piece" : "pieces"}`]);
    expect(end.lostKinds).toEqual({ events: 0, argument: n });
    // (under docker run, a piece may be of a call the container's scope then dropped)
    expect(missing.length).toBeLessThanOrEqual(n);
  } else {
    expect(end).toMatchObject({ complete: true });
    expect(end.incomplete).toBeUndefined();
  }
  expect(missing.filter((x) => !x.runtime)).toEqual([]);
  return end;
}

/** Registers the cases for `backend` in the enclosing describe. */
export function containerCases(backend: "bpftrace" | "ebpf"): void {
  const ctr = `leastpriv-${backend}-ctr-${process.pid}`;
  const trace = (args: string[]) => run("trace-run", ["--backend", backend, ...args]);
  let tmp = "";
  beforeAll(() => {
    tmp = mkdtempSync(tmpdir() + `/trace-ctr-${backend}-`);
    execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
  }, 300000);
  afterAll(() => {
    spawnSync("docker", ["rm", "-f", ctr]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it("a new container (docker run): its calls, by its cgroup; the runtime's set-up marked", () => {
    const r = trace(["--", "docker", "run", "--rm", "leastpriv-test:1"]);
    expect(r.stderr).toBe("for the container only\n");
    expect(r.status).toBe(0);
    const recs = r.records();
    const end = wholeEnd(recs, 0);
    const c = calls(recs);
    expect(c.every((x) => x.container === end.container)).toBe(true);
    const read = c.find((x) => x.syscall === "openat" && x.path === "/data/secret.txt")!;
    expect(read).toMatchObject({ ok: true, containerPath: true });
    expect(read.runtime).toBeUndefined();
    expect(c.find((x) => x.syscall === "execve" && x.path === "/app/run.sh")).toMatchObject({ ok: true });
    // runc's own calls in the container's cgroup, before the program: runtime
    expect(c.filter((x) => x.runtime).length).toBeGreaterThan(0);
    expect(c.filter((x) => x.comm?.startsWith("runc")).every((x) => x.runtime)).toBe(true);
    // the docker client and the daemons are not in the container's cgroup
    expect(c.some((x) => x.comm === "docker" || x.comm === "dockerd" || x.comm === "containerd")).toBe(false);
  }, 90000);

  it("podman run: the container's program and its file, marked with its id; podman, conmon and runc as runtime; its exit status", () => {
    const r = trace(["--", ...PODMAN, "leastpriv-test:1", "cat", "/data/secret.txt"]);
    expect(r.stderr).toBe("for the container only\n");          // the container's stdout, on our stderr
    expect(r.status).toBe(0);
    const recs = r.records();
    expect(recs[0]).toMatchObject({ type: "run", tracer: backend, argv: [...PODMAN, "leastpriv-test:1", "cat", "/data/secret.txt"] });   // without our --cidfile
    const end = wholeEnd(recs, 0);
    const c = calls(recs);
    const cat = execs(recs, "cat");
    expect(cat).toEqual([expect.objectContaining({ path: "/bin/cat", argv: ["cat", "/data/secret.txt"], container: end.container })]);
    expect(cat[0].runtime).toBeUndefined();
    const read = c.find((x) => x.syscall === "openat" && x.path === "/data/secret.txt")!;
    expect(read).toMatchObject({ pid: cat[0].pid, op: "read", ok: true, container: end.container, containerPath: true });
    expect(read.runtime).toBeUndefined();
    for (const engine of [/\/conmon$/, /\/runc$/]) {
      const ran = c.filter((x) => x.kind === "exec" && x.ok && engine.test(x.path ?? ""));
      expect(ran.length, String(engine)).toBeGreaterThan(0);
      expect(ran.every((x) => x.runtime === true), String(engine)).toBe(true);
    }
    expect(c.filter((x) => x.comm === "podman" || x.comm === "conmon").every((x) => x.runtime)).toBe(true);
    // the program's own calls are few; podman's, conmon's and runc's are thousands
    expect(c.filter((x) => !x.runtime).length).toBeLessThan(50);
    expect(c.filter((x) => x.runtime).length).toBeGreaterThan(1000);
    const seven = trace(["--", ...PODMAN, "leastpriv-test:1", "sh", "-c", "exit 7"]);
    expect(seven.stderr).toBe("");
    expect(seven.status).toBe(7);
    wholeEnd(seven.records(), 7);
  }, 120000);

  it("podman run: a baseline made under strace and one made under this backend diff clean both ways; the next version fails on its connection", () => {
    // a trace that lost only what wholeEnd allows (said in its end) is compared all the same
    let lossy = false;
    const profile = (b: string, image: string) => {
      const r = run("trace-run", ["--backend", b, "--", ...PODMAN, image]);
      expect(r.status, r.stderr).toBe(0);
      if (b === backend && wholeEnd(r.records(), 0).complete === false) lossy = true;
      const file = `${tmp}/${b}-${image.replace(/\W/g, "_")}.profile`;
      writeFileSync(file, run("trace-summarize", [], r.stdout).stdout);
      return file;
    };
    const diff = (args: string[]) => run("trace-diff", [...(lossy ? ["--allow-incomplete"] : []), ...args]);
    const [s, b] = [profile("strace", "leastpriv-test:1"), profile(backend, "leastpriv-test:1")];
    for (const [x, y] of [[s, b], [b, s]]) {
      const d = diff(["--format", "text", x, y]);
      expect(d.stdout, d.stderr).toBe("0 differences, 0 failing\n");
      expect(d.status).toBe(0);
    }
    const v2 = profile(backend, "leastpriv-test:2");
    const d = diff([s, v2]);
    expect(d.status, d.stderr).toBe(1);
    expect(d.records().filter((x) => x.fails)).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: "net", role: "peer", ops: ["connect"], addr: expect.objectContaining({ ip: "127.0.0.1", port: 9 }) })]));
  }, 120000);

  for (const [engine, argv] of [["docker", ["docker", "run", "--rm"]], ["podman", PODMAN]] as const) {
    it(`${engine} run, a glibc shell that execs ls 30 times: every exec seen, the container's, none marked runtime, in each of 5 runs`, () => {
      const seen: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = trace(["--", ...argv, ...LOOP]);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        const recs = r.records();
        const end = wholeEnd(recs, 0);
        const ls = execs(recs, "ls");
        expect(ls.filter((x) => x.runtime || x.container !== end.container || !x.containerPath)).toEqual([]);
        seen.push(ls.length);
      }
      expect(seen).toEqual(Array(5).fill(30));
    }, 300000);
  }

  it("a running container (--container NAME): every program docker exec runs in it once the probes are in, until it stops", async () => {
    execFileSync("docker", ["run", "-d", "--name", ctr, "leastpriv-test:1", "sleep", "60"]);
    const child = spawn(process.execPath, [ROOT + "dist/commands/trace-run.js", "--backend", backend, "--container", ctr], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    const done = new Promise<number | null>((res) => child.on("close", (code) => res(code)));
    // the probes are in a moment after the header: a docker exec is repeated until the trace shows it
    for (let i = 0; i < 200 && !out.includes('"type":"run"'); i++) await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 100 && !out.includes('"/etc/hostname"'); i++) {
      execFileSync("docker", ["exec", ctr, "cat", "/etc/hostname"]);
      await new Promise((r) => setTimeout(r, 100));
    }
    // from then on, each one
    for (let i = 0; i < 5; i++) execFileSync("docker", ["exec", ctr, "cat", "/data/secret.txt"]);
    execFileSync("docker", ["rm", "-f", ctr]);
    const code = await done;
    expect(err).toBe("");
    expect(code).toBe(0);
    const recs = out.trim().split("\n").map((l) => JSON.parse(l));
    expect(recs[0]).toMatchObject({ type: "run", tracer: backend, container: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const id = recs[0].container;
    const c = calls(recs);
    expect(c.find((x) => x.syscall === "openat" && x.path === "/etc/hostname")).toMatchObject({ ok: true, container: id });
    expect(execs(recs, "cat").find((x) => x.argv?.[1] === "/etc/hostname")).toMatchObject({ ok: true, argv: ["cat", "/etc/hostname"], container: id });
    const later = execs(recs, "cat").filter((x) => x.argv?.[1] === "/data/secret.txt");
    expect(later).toHaveLength(5);
    expect(later.filter((x) => x.runtime || x.container !== id)).toEqual([]);
    expect(c.filter((x) => x.syscall === "openat" && x.path === "/data/secret.txt" && x.ok && !x.runtime)).toHaveLength(5);
    expect(recs.at(-1)).toMatchObject({ type: "end", ended: "exited", unparsed: 0, lost: 0, complete: true, container: id });
  }, 90000);
}
