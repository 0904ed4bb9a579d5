// Profiles and the verdict key on the file the kernel opened, not the name a (hostile) program used:
// real runs as root, under both backends, of a job that writes and reads through symbolic links and
// writes a device node. Everything made on the host is removed again.
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync, execSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { FIX, ROOT, run } from "../helpers.js";
import { normalizePath } from "../../lib/profile/normalize.js";

const tmp = mkdtempSync(tmpdir() + "/trace-canon-");
// cron ignores file names with a dot: the file a test writes in /etc/cron.d never runs
const cron = `/etc/cron.d/leastpriv.canary-${process.pid}`;
const cache = `/var/cache/leastpriv-canary-${process.pid}`;
const dev = `/dev/leastpriv-canary-${process.pid}`;
const verdict = (events: string) => run("trace-summarize", ["--format", "verdict"], events).records()[0];

describe("profiles key on the file the kernel opened, and on temporaries by rule", () => {
  beforeAll(() => {
    execFileSync("mknod", [dev, "c", "1", "3"]);            // a device node of our own (the null device's numbers)
  }, 120000);
  afterAll(() => {
    for (const p of [cron, cache, dev]) rmSync(p, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  // links made afresh for each run: a directory of the job's (mktemp -d) leading to /etc/cron.d, one in
  // /var/cache leading to /etc/shadow
  const links = () => {
    const d = mkdtempSync(tmp + "/job-");
    symlinkSync("/etc/cron.d", d + "/c");
    rmSync(cache, { recursive: true, force: true });
    mkdirSync(cache);
    symlinkSync("/etc/shadow", cache + "/settings");
    const script = d + "/job.sh";
    writeFileSync(script, `echo '# leastpriv test: never run' > ${d}/c/${cron.split("/").pop()}\ncat ${cache}/settings > /dev/null\necho x > ${dev}\n`);
    return { d, script };
  };

  it("strace: a write through a link into /etc/cron.d and a read of /etc/shadow through a link are seen, even after the links are gone", () => {
    const { d, script } = links();
    const r = run("trace-run", ["--backend", "strace", "--", "sh", script]);
    expect(r.status).toBe(0);
    expect(existsSync(cron)).toBe(true);
    rmSync(cron); rmSync(d, { recursive: true }); rmSync(cache, { recursive: true });   // the job covers its tracks
    const v = verdict(r.stdout);
    expect(v.reads.sensitive).toContain("/etc/shadow");
    expect(v.changes).toBe(true);
    expect(v.changed.created).toContain(cron);
    expect(v.system.services).toContain(cron);
    // a device node other than the harmless ones is a change, never temporary
    // (the shell's ">" opens with O_CREAT: created; trace-run traces write calls only with --cost)
    expect([...v.changed.created, ...v.changed.written]).toContain(dev);
    expect([...v.changed.created, ...v.changed.written]).not.toContain("/dev/null");
    // the names as called stay beside the file
    const profile = run("trace-summarize", [], r.stdout).records();
    expect(profile.find((s) => s.kind === "file" && s.path === "/etc/shadow")).toMatchObject({ names: [cache + "/settings"], okOps: expect.arrayContaining(["read"]) });
    expect(profile.find((s) => s.kind === "file" && s.path === cron)?.names).toEqual([expect.stringMatching(/\/c\/leastpriv\.canary-\d+$/)]);
  }, 60000);

  it("bpftrace: the names it reports are resolved on the host when summarising", () => {
    const { d, script } = links();
    const r = run("trace-run", ["--backend", "bpftrace", "--", "sh", script]);
    expect(r.status).toBe(0);
    const v = verdict(r.stdout);
    rmSync(cron); rmSync(d, { recursive: true }); rmSync(cache, { recursive: true });
    expect(v.reads.sensitive).toContain("/etc/shadow");
    expect(v.changed.created).toContain(cron);
    expect(v.system.services).toContain(cron);
    expect([...v.changed.created, ...v.changed.written]).toContain(dev);
  }, 60000);

  it("temporaries by rule: runs of a Python job using temporary files give one profile, under each backend and across them", () => {
    const out = tmp + "/out";
    const profileOf = (backend: string, n: number) => {
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out);
      writeFileSync(out + "/leastpriv_mod.py", "X = 1\n");          // compiled anew each run: NAME.pyc.<id>, renamed
      const ev = run("trace-run", ["--backend", backend, "--", "/usr/bin/python3", "-S", FIX + "helpers.py", "temps", out]).stdout;
      const file = `${tmp}/${backend}-${n}.profile`;
      writeFileSync(file, run("trace-summarize", [], ev).stdout);
      return file;
    };
    const ps = [profileOf("strace", 1), profileOf("strace", 2), profileOf("bpftrace", 1), profileOf("bpftrace", 2)];
    for (const [x, y] of [[0, 1], [2, 3], [0, 2], [3, 1]]) {
      const d = run("trace-diff", ["--strict", "--format", "text", ps[x], ps[y]]);
      expect(d.stdout, `${ps[x]} against ${ps[y]}`).toBe("0 differences, 0 failing\n");
    }
  }, 120000);

  it("a script's #! interpreter, which the kernel runs and no call names, is in the profile as run", () => {
    const real = mkdtempSync(tmp + "/scripts-");
    const d = normalizePath(real);                              // as profiles name it (/tmp/trace-canon-<tmp>/…)
    // a script, and a script whose interpreter is itself a script (the kernel allows four levels)
    writeFileSync(real + "/inner.sh", "#!/bin/sh -e\nexec cat \"$1\"\n", { mode: 0o755 });
    writeFileSync(real + "/outer", `#!${real}/inner.sh\nhello\n`, { mode: 0o755 });
    writeFileSync(real + "/run.sh", "#!/bin/sh\necho hi\n", { mode: 0o755 });
    for (const backend of ["strace", "bpftrace"]) {
      const ev = run("trace-run", ["--backend", backend, "--", "sh", "-c", `${real}/run.sh; ${real}/outer`]);
      expect(ev.status).toBe(0);
      const p = run("trace-summarize", [], ev.stdout).records();
      const exec = (path: string) => p.find((s) => s.kind === "exec" && s.path === path);
      expect(exec(d + "/run.sh")).toMatchObject({ interpreter: "/usr/bin/dash" });
      expect(exec(d + "/outer")).toMatchObject({ interpreter: d + "/inner.sh" });
      expect(exec(d + "/inner.sh")).toMatchObject({ interpreter: "/usr/bin/dash", scripts: [d + "/outer"], argv: [[d + "/inner.sh", d + "/outer"]] });
      expect(exec("/usr/bin/dash")).toMatchObject({ scripts: [d + "/inner.sh", d + "/run.sh"],
        argv: expect.arrayContaining([["/bin/sh", "-e", d + "/inner.sh", d + "/outer"], ["/bin/sh", d + "/run.sh"]]) });
      expect(p.find((s) => s.kind === "file" && s.path === "/usr/bin/dash")?.okOps).toEqual(["exec"]);
      // the verdict counts the interpreter among what was read and run
      expect(run("trace-summarize", ["--format", "verdict"], ev.stdout).records()[0].reads.files).toBeGreaterThan(3);
    }
  }, 60000);
});

describe("a container's names, with its root file system (--root)", () => {
  it("docker run of a script: its interpreter and its programs by the files they are in the image", () => {
    execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
    const r = run("trace-run", ["--", "docker", "run", "--rm", "leastpriv-test:1"]);
    expect(r.status).toBe(0);
    // the image's root, exported from a container that never runs
    const root = mkdtempSync(tmpdir() + "/trace-canon-root-");     // the first describe's tmp is gone by now
    const id = execFileSync("docker", ["create", "leastpriv-test:1"], { encoding: "utf8" }).trim();
    try { execSync(`docker export ${id} | tar -x -C ${root}`); } finally { execFileSync("docker", ["rm", id]); }
    const without = run("trace-summarize", [], r.stdout).records();
    const ex = (p: any[], path: string) => p.find((s) => s.kind === "exec" && s.path === path);
    expect(ex(without, "/app/run.sh").interpreter).toBeUndefined();              // kept as named: no root to read it in
    const p = run("trace-summarize", ["--root", root], r.stdout).records();
    // /bin/sh is a link to busybox in the image; busybox runs its applets as /proc/self/exe, kept as named
    expect(ex(p, "/app/run.sh")).toMatchObject({ interpreter: "/bin/busybox" });
    expect(ex(p, "/bin/busybox")).toMatchObject({ scripts: ["/app/run.sh"], names: ["/bin/sh"], argv: [["/bin/sh", "/app/run.sh"]] });
    expect(p.find((s) => s.kind === "file" && s.path === "/bin/busybox")?.okOps).toEqual(["exec"]);
    expect(ex(p, "/proc/self/exe")?.argv).toEqual([["cat", "/data/secret.txt"]]);
    rmSync(root, { recursive: true, force: true });
  }, 120000);
});
