// trace-policy --format landlock and trace-sandbox, for real: a job traced as an ordinary user runs
// under the ruleset its trace gave, and the kernel refuses what the trace never did (a read, a write,
// a TCP connect), in one process and in a shell that forks and execs; trace-sandbox passes on statuses.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { ROOT, run, withHostLock } from "../helpers.js";

const USER = `llsb${process.pid % 100000}`;
const SANDBOX = ROOT + "dist/commands/trace-sandbox.js";
const ENV = { PATH: "/usr/bin:/bin" };
let dir = "", uid = 0, servers: Server[] = [], used = 0, unused = 0;

// one program, one process: reads two files, connects to a port; then, by its mode, one more thing
const PY = `
import socket, sys
d, used, unused, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
open(d + "/readme").read(); open(d + "/data").read()
socket.create_connection(("127.0.0.1", used)).close()
try:
    if mode == "read": open(d + "/secret").read()
    if mode == "write": open(d + "/data", "a").write("x")
    if mode == "connect": socket.create_connection(("127.0.0.1", unused)).close()
    print("done")
except OSError as e:
    print("refused", e.errno); sys.exit(1)
`;

const listen = () => new Promise<[Server, number]>((resolve) => {
  const s = createServer((c) => c.destroy()).listen(0, "127.0.0.1", () => resolve([s, (s.address() as { port: number }).port]));
});

beforeAll(async () => {
  // useradd and userdel rewrite /etc/shadow (a new inode): not while a test plans and applies on it
  if (spawnSync("id", [USER]).status !== 0) withHostLock(() => execFileSync("useradd", ["-M", "-s", "/bin/sh", USER]));
  uid = Number(execFileSync("id", ["-u", USER], { encoding: "utf8" }));
  // not a name that looks generated (mkdtemp's would be folded into /tmp/<tmp>, and its rights onto all of /tmp)
  dir = `/tmp/leastpriv-sandbox-test-${process.pid}`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  for (const f of ["readme", "data", "secret"]) writeFileSync(`${dir}/${f}`, f + "\n", { mode: 0o644 });
  chownSync(`${dir}/data`, uid, -1);                  // the user may write it: only the sandbox says no
  mkdirSync(`${dir}/out`, { mode: 0o755 });
  chownSync(`${dir}/out`, uid, -1);
  writeFileSync(`${dir}/job.py`, PY, { mode: 0o644 });
  writeFileSync(`${dir}/notexec`, "#!/bin/sh\n", { mode: 0o644 });
  const [a, pa] = await listen(), [b, pb] = await listen();
  servers = [a, b]; used = pa; unused = pb;
}, 900_000);

afterAll(() => {
  for (const s of servers) s.close();
  if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true });
  withHostLock(() => spawnSync("userdel", [USER]));
}, 900_000);

/** Traces `command` as USER and writes the Landlock ruleset of the trace. */
function policyOf(command: string[], name: string): string {
  const t = run("trace-run", ["--user", USER, "--", ...command], undefined, ENV);
  expect(t.status, t.stderr).toBe(0);
  writeFileSync(`${dir}/${name}.ndjson`, t.stdout);
  const p = run("trace-policy", ["--format", "landlock", `${dir}/${name}.ndjson`], undefined, ENV);
  expect(p.status, p.stderr).toBe(0);
  writeFileSync(`${dir}/${name}.json`, p.stdout);
  chmodSync(`${dir}/${name}.json`, 0o644);
  return `${dir}/${name}.json`;
}

/** Runs `command` as USER under the ruleset, traced: the deny-and-grant loop. */
function sandboxed(policy: string, command: string[], opts: string[] = []) {
  const r = run("trace-run", ["--user", USER, "--", process.execPath, SANDBOX, ...opts, policy, "--", ...command], undefined, ENV);
  const denied = r.records().filter((x) => x.type === "syscall" && (x.errno === "EACCES" || x.errno === "EPERM") && !String(x.path ?? "").startsWith("/root"));
  return { ...r, denied };
}

/** The same command as USER with no sandbox: what the user may do anyway. */
const plain = (command: string[]) => spawnSync("/usr/sbin/runuser", ["-u", USER, "--", ...command], { encoding: "utf8", env: ENV });

describe("trace-sandbox: one program", () => {
  const job = (mode: string) => ["/usr/bin/python3", "-I", "-B", `${dir}/job.py`, dir, String(used), String(unused), mode];
  let policy = "";
  beforeAll(() => { policy = policyOf(job("none"), "py"); });

  it("runs under the ruleset of its own trace", () => {
    const r = sandboxed(policy, job("none"));
    expect(r.stderr).toContain("done");
    expect(r.status, r.stderr).toBe(0);
    const ruleset = JSON.parse(readFileSync(policy, "utf8"));
    expect(ruleset.abi).toBe(6);
    expect(ruleset.netPort).toEqual([{ allowedAccess: ["connect_tcp"], port: [used] }]);
  }, 60_000);

  it("a read of a file it never read is refused by the kernel", () => {
    expect(plain(job("read")).stdout).toContain("done");
    const r = sandboxed(policy, job("read"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("refused 13");
    expect(r.denied.map((x) => [x.syscall, x.path, x.errno])).toContainEqual(["openat", `${dir}/secret`, "EACCES"]);
  }, 60_000);

  it("a write where it only read is refused", () => {
    expect(plain(job("write")).stdout).toContain("done");
    const r = sandboxed(policy, job("write"));
    expect(r.status).toBe(1);
    expect(r.denied.map((x) => [x.syscall, x.path, x.errno])).toContainEqual(["openat", `${dir}/data`, "EACCES"]);
    expect(readFileSync(`${dir}/data`, "utf8")).not.toContain("xx");
  }, 60_000);

  it("a connect to a TCP port it never used is refused", () => {
    expect(plain(job("connect")).stdout).toContain("done");
    const r = sandboxed(policy, job("connect"));
    expect(r.status).toBe(1);
    const c = r.denied.filter((x) => x.syscall === "connect");
    expect(c.map((x) => [x.addr.port, x.errno])).toEqual([[unused, "EACCES"]]);
  }, 60_000);

  it("the deny-and-grant loop: the sandboxed run traced as the user shows what was refused, and a policy from both traces lets it run", () => {
    const t = run("trace-run", ["--user", USER, "--", process.execPath, SANDBOX, policy, "--", ...job("read")], undefined, ENV);
    expect(t.status).toBe(1);
    const refused = run("trace-filter", ["--errno", "EACCES", "--errno", "EPERM"], t.stdout, ENV);
    expect(refused.status, refused.stderr).toBe(0);
    const text = run("trace-summarize", ["--format", "text"], refused.stdout, ENV);
    expect(text.stdout).toMatch(new RegExp(`${dir}/secret .*failed EACCES`));
    // grant: trace the run that does it (no sandbox) and write the policy from both traces
    const more = run("trace-run", ["--user", USER, "--", ...job("read")], undefined, ENV);
    expect(more.status, more.stderr).toBe(0);
    writeFileSync(`${dir}/py-read.ndjson`, more.stdout);
    const p = run("trace-policy", ["--format", "landlock", `${dir}/py.ndjson`, `${dir}/py-read.ndjson`], undefined, ENV);
    expect(p.status, p.stderr).toBe(0);
    writeFileSync(`${dir}/py-read.json`, p.stdout);
    chmodSync(`${dir}/py-read.json`, 0o644);
    const ok = sandboxed(`${dir}/py-read.json`, job("read"));
    expect(ok.stderr).toContain("done");
    expect(ok.status).toBe(0);
    expect(ok.denied).toEqual([]);
    // and the write it never did is still refused
    expect(sandboxed(`${dir}/py-read.json`, job("write")).status).toBe(1);
  }, 120_000);

  it("on an older ABI it enforces what it can and says what it could not", () => {
    const r = sandboxed(policy, job("connect"), ["--abi", "3"]);
    expect(r.stderr).toContain("trace-sandbox: Landlock ABI below 4: TCP bind and connect not restricted");
    expect(r.stderr).toContain("done");
    expect(r.status).toBe(0);
    // the file rules still hold
    expect(sandboxed(policy, job("read"), ["--abi", "3"]).status).toBe(1);
    const strict = sandboxed(policy, job("none"), ["--abi", "3", "--strict"]);
    expect(strict.status).toBe(125);
    expect(strict.stderr).not.toContain("done");
  }, 60_000);
});

describe("trace-sandbox: a shell that forks and execs", () => {
  const base = () => `cat ${dir}/readme ${dir}/data >/dev/null; ls ${dir} >/dev/null; echo hi > ${dir}/out/log; bash -c 'exec 3<>/dev/tcp/127.0.0.1/${used}'`;
  let policy = "";
  beforeAll(() => { policy = policyOf(["sh", "-c", base()], "sh"); });

  it("runs under its ruleset, and its children are refused what the trace never did", () => {
    const ok = sandboxed(policy, ["sh", "-c", base()]);
    expect(ok.status, ok.stderr).toBe(0);
    for (const [extra, check] of [
      [`cat ${dir}/secret`, (d: { syscall: string; path?: string; errno: string }[]) => d.some((x) => x.syscall === "openat" && x.path === `${dir}/secret`)],
      [`echo x >> ${dir}/data`, (d: { syscall: string; path?: string }[]) => d.some((x) => x.syscall === "openat" && x.path === `${dir}/data`)],
      [`ls /usr/share`, (d: { syscall: string; path?: string }[]) => d.some((x) => x.syscall === "openat" && x.path === "/usr/share")],
      [`bash -c 'exec 3<>/dev/tcp/127.0.0.1/${unused}'`, (d: { syscall: string; addr?: { port: number } }[]) => d.some((x) => x.syscall === "connect" && x.addr?.port === unused)],
    ] as const) {
      expect(plain(["sh", "-c", `${base()}; ${extra}`]).status, extra).toBe(0);
      const r = sandboxed(policy, ["sh", "-c", `${base()}; ${extra}`]);
      expect(r.status, extra).not.toBe(0);
      expect((check as (d: unknown[]) => boolean)(r.denied), `${extra}: ${JSON.stringify(r.denied.map((x) => [x.syscall, x.path, x.errno]))}`).toBe(true);
    }
  }, 120_000);
});

describe("trace-sandbox: status", () => {
  let policy = "";
  beforeAll(() => { policy = policyOf(["sh", "-c", "exit 0"], "status"); });
  const sb = (...cmd: string[]) => run("trace-sandbox", [policy, "--", ...cmd], undefined, ENV);

  it("passes on the command's exit status", () => {
    expect(sb("sh", "-c", "exit 3").status).toBe(3);
    expect(sb("sh", "-c", "exit 0").status).toBe(0);
  });
  it("128+N when the command is killed by signal N", () => {
    expect(sb("sh", "-c", "kill -TERM $$").status).toBe(143);
    expect(sb("sh", "-c", "kill -KILL $$").status).toBe(137);
  });
  it("127 when the command is not found, 126 when it cannot be run", () => {
    const nf = sb("no-such-command-here");
    expect(nf.status).toBe(127);
    expect(nf.stderr).toBe("trace-sandbox: no-such-command-here: command not found\n");
    const ne = sb(`${dir}/notexec`);
    expect(ne.status).toBe(126);
    expect(ne.stderr).toMatch(/^trace-sandbox: .*notexec: Permission denied\n$/);
  });
  it("refuses a policy it cannot read whole, with 125", () => {
    writeFileSync(`${dir}/bad.json`, JSON.stringify({ abi: 4, ruleset: [{ handledAccessFs: ["read_file", "fly"] }] }));
    const r = run("trace-sandbox", [`${dir}/bad.json`, "--", "true"], undefined, ENV);
    expect(r.status).toBe(125);
    expect(r.stderr).toBe('trace-sandbox: ruleset[0].handledAccessFs: "fly": not a right trace-sandbox knows\n');
    const u = run("trace-sandbox", [policy], undefined, ENV);
    expect(u.status).toBe(2);
  });
});

describe("trace-policy --format landlock: making, moving and removing files", () => {
  // a job that makes a directory tree, moves a file into another directory, links and removes
  const job = (d: string) => `mkdir -p ${d}/new/sub && echo x > ${d}/new/sub/f && mv ${d}/new/sub/f ${d}/keep/g && ln -s g ${d}/keep/l && rm ${d}/old && cat ${d}/keep/g`;
  const fresh = (d: string) => {
    rmSync(d, { recursive: true, force: true });
    mkdirSync(`${d}/keep`, { recursive: true });
    writeFileSync(`${d}/old`, "old\n");
  };

  it("the ruleset has the rights on the directories that are there, and the job runs under it", () => {
    const d = `${dir}/tree`;
    fresh(d);
    const t = run("trace-run", ["--", "sh", "-c", job(d)], undefined, ENV);
    expect(t.status, t.stderr).toBe(0);
    const p = run("trace-policy", ["--format", "landlock"], t.stdout, ENV);
    expect(p.status, p.stderr).toBe(0);
    const rs = JSON.parse(p.stdout);
    const rightsOf = (path: string) => rs.pathBeneath.filter((r: { parent: string[] }) => r.parent.includes(path)).flatMap((r: { allowedAccess: string[] }) => r.allowedAccess).sort();
    // new/ and new/sub/ do not exist before the run: what is done in them is granted on d
    expect(rightsOf(d)).toEqual(expect.arrayContaining(["make_dir", "make_reg", "remove_file", "write_file", "refer"]));
    expect(rightsOf(`${d}/keep`)).toEqual(expect.arrayContaining(["make_reg", "make_sym", "refer"]));
    expect(rightsOf(`${d}/new`)).toEqual([]);
    // /dev/null is written, never made: no right to make devices in /dev
    expect(rightsOf("/dev")).toEqual([]);
    writeFileSync(`${dir}/tree.json`, p.stdout);
    fresh(d);
    const r = run("trace-sandbox", [`${dir}/tree.json`, "--", "sh", "-c", job(d)], undefined, ENV);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    // and what it did not do is refused: making a directory beside the tree
    fresh(d);
    const no = run("trace-sandbox", [`${dir}/tree.json`, "--", "sh", "-c", `mkdir ${dir}/beside`], undefined, ENV);
    expect(no.stderr).toMatch(/Permission denied/);
    expect(no.status).toBe(1);
  }, 60_000);
});

describe("trace-policy --format landlock: scoping", () => {
  it("scopes signals from a strace trace that sent none, and not from bpftrace output that does not say its call table", () => {
    const s = run("trace-parse", [ROOT + "test/fixtures/strace/pipeline.strace"]);
    const fromStrace = run("trace-policy", ["--format", "landlock"], s.stdout, ENV);
    expect(JSON.parse(fromStrace.stdout).ruleset[0].scoped).toContain("signal");
    const b = run("trace-parse", [ROOT + "test/fixtures/bpftrace/pipeline.out"]);
    const fromBpf = run("trace-policy", ["--format", "landlock"], b.stdout, ENV);
    expect(fromBpf.status, fromBpf.stderr).toBe(0);
    expect(JSON.parse(fromBpf.stdout).ruleset[0].scoped ?? []).not.toContain("signal");
    expect(fromBpf.stderr).toContain("trace-policy: signals not scoped: the trace does not show every call that sends one (trace with strace, or a newer trace-run)");
  });

  it("the kernel backends trace every call that sends a signal (call table 2): scoped when none was sent, not when tgkill was", () => {
    for (const backend of ["ebpf", "bpftrace"]) {
      const quiet = run("trace-run", ["--backend", backend, "--", "sh", "-c", "ls / > /dev/null"], undefined, ENV);
      expect(quiet.status, quiet.stderr).toBe(0);
      expect(quiet.records()[0].tracerVersion).toMatch(/call table 2\)$/);
      const q = run("trace-policy", ["--format", "landlock"], quiet.stdout, ENV);
      expect(q.stderr).not.toContain("signals not scoped");
      expect(JSON.parse(q.stdout).ruleset[0].scoped).toContain("signal");
      // a signal to its own thread (signal 0: only asked whether it could be sent)
      const sent = run("trace-run", ["--backend", backend, "--", "/usr/bin/python3", "-c", "import signal, threading; signal.pthread_kill(threading.get_ident(), 0)"], undefined, ENV);
      expect(sent.status, sent.stderr).toBe(0);
      expect(sent.records().filter((r: any) => r.syscall === "tgkill").map((r: any) => r.args[2])).toEqual(["0"]);
      const p = run("trace-policy", ["--format", "landlock"], sent.stdout, ENV);
      expect(p.stderr).toContain("trace-policy: signals not scoped: the run sent signals (tgkill), perhaps to processes outside it");
      expect(JSON.parse(p.stdout).ruleset[0].scoped ?? []).not.toContain("signal");
    }
  }, 60_000);
});

// real programs, each traced as the user, run under its ruleset first try, then asked to do one thing
// more, which the kernel refuses: temporary files (O_TMPFILE, mkstemp's O_RDWR|O_CREAT|O_EXCL) and
// children that list their own /proc/self/fd are what a ruleset from a trace got wrong before
describe("trace-sandbox: real programs first try", () => {
  const denied = (r: ReturnType<typeof sandboxed>) => JSON.stringify(r.denied.map((x) => [x.pid, x.syscall, x.path ?? x.addr, x.args?.[2], x.errno]));

  it("apt-cache policy: O_TMPFILE in /tmp and a child's /proc/self/fd", () => {
    const policy = policyOf(["apt-cache", "policy", "bash"], "apt");
    for (let i = 0; i < 3; i++) {         // every time, not once in a while
      const ok = sandboxed(policy, ["apt-cache", "policy", "bash"]);
      expect(ok.status, ok.stderr + denied(ok)).toBe(0);
      expect(ok.denied, denied(ok)).toEqual([]);
      expect(ok.stderr).toContain("Installed:");
    }
    const rs = JSON.parse(readFileSync(policy, "utf8"));
    const rightsOf = (path: string) => rs.pathBeneath.filter((r: { parent: string[] }) => r.parent.includes(path)).flatMap((r: { allowedAccess: string[] }) => r.allowedAccess).sort();
    // what an O_RDWR|O_TMPFILE open needs is read and write beneath /tmp; the rule for the children's
    // /proc/self/fd is on /proc (no /proc/self rule: it would name the enforcer's own pid)
    expect(rightsOf("/tmp")).toEqual(expect.arrayContaining(["read_file", "write_file"]));
    expect(rightsOf("/proc")).toEqual(["read_dir"]);
    expect(JSON.stringify(rs)).not.toContain("/proc/self");
    // its temporary files make all of /tmp readable (for files not there yet, beneath /tmp is all
    // Landlock can say): a file outside it that it never read is refused (dpkg's previous status)
    const old = ["apt-cache", "-o", "Dir::State::status=/var/lib/dpkg/status-old", "policy", "bash"];
    expect(plain(old).status).toBe(0);
    const no = sandboxed(policy, old);
    expect(no.status).not.toBe(0);
    expect(no.denied.map((x) => [x.syscall, x.path, x.errno])).toContainEqual(["openat", "/var/lib/dpkg/status-old", "EACCES"]);
  }, 120_000);

  it("python3 with tempfile and a subprocess", () => {
    writeFileSync(`${dir}/tmpjob.py`, [
      "import os, subprocess, sys, tempfile",
      "with tempfile.TemporaryFile() as f: f.write(b'x' * 100); f.seek(0); f.read()",
      "with tempfile.NamedTemporaryFile() as f: f.write(b'y'); f.flush()",
      "d = tempfile.mkdtemp(); open(d + '/a', 'w').write('a'); os.unlink(d + '/a'); os.rmdir(d)",
      "subprocess.run(['/usr/bin/true'], check=True)",
      "if sys.argv[1:] == ['more']: open(sys.argv[0] + '.out', 'w').write('x')",
      "print('done')",
    ].join("\n") + "\n", { mode: 0o644 });
    const job = (...more: string[]) => ["/usr/bin/python3", "-I", "-B", `${dir}/tmpjob.py`, ...more];
    const policy = policyOf(job(), "tmpjob");
    const ok = sandboxed(policy, job());
    expect(ok.status, ok.stderr + denied(ok)).toBe(0);
    expect(ok.stderr).toContain("done");
    expect(ok.denied, denied(ok)).toEqual([]);
    // a file made where it never made one
    const no = sandboxed(policy, job("more"));
    expect(no.status).not.toBe(0);
    expect(no.denied.map((x) => [x.syscall, x.path, x.errno])).toContainEqual(["openat", `${dir}/tmpjob.py.out`, "EACCES"]);
  }, 120_000);

  it("sort on an input too big for its buffer (temporary files in /tmp)", () => {
    writeFileSync(`${dir}/big`, Array.from({ length: 200_000 }, (_, i) => String((i * 7919) % 200_003)).join("\n") + "\n", { mode: 0o644 });
    const job = (out: string) => ["sort", "-S", "64K", "-T", "/tmp", `${dir}/big`, "-o", out];
    const policy = policyOf(job("/dev/null"), "sort");
    const t = readFileSync(`${dir}/sort.ndjson`, "utf8");
    expect(t).toMatch(/"path":"\/tmp\/sort[^"]*","args"/);        // it did use temporary files
    const ok = sandboxed(policy, job("/dev/null"));
    expect(ok.status, ok.stderr + denied(ok)).toBe(0);
    expect(ok.denied, denied(ok)).toEqual([]);
    // its temporary files make all of /tmp writable and readable (beneath /tmp is all Landlock can say
    // for files not there yet): a file outside it that it never read is refused
    expect(plain([...job("/dev/null"), "/etc/passwd"]).status).toBe(0);
    const no = sandboxed(policy, [...job("/dev/null"), "/etc/passwd"]);
    expect(no.status).not.toBe(0);
    expect(no.denied.map((x) => [x.syscall, x.path, x.errno])).toContainEqual(["openat", "/etc/passwd", "EACCES"]);
  }, 120_000);

  it("git status in a repository", () => {
    const repo = `${dir}/repo`;
    const git = (...a: string[]) => ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", repo, ...a];
    rmSync(repo, { recursive: true, force: true });
    mkdirSync(repo);
    chownSync(repo, uid, -1);
    for (const c of [["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "one"]]) expect(plain(git(...c)).status).toBe(0);
    writeFileSync(`${repo}/new`, "new\n", { mode: 0o644 });
    const policy = policyOf(git("status", "--short"), "git");
    const ok = sandboxed(policy, git("status", "--short"));
    expect(ok.status, ok.stderr + denied(ok)).toBe(0);
    expect(ok.stderr).toContain("?? new");
    expect(ok.denied, denied(ok)).toEqual([]);
    // a commit writes objects it never wrote
    const no = sandboxed(policy, git("commit", "-q", "--allow-empty", "-m", "two"));
    expect(no.status).not.toBe(0);
    // refused only what the status never opened
    const opened = new Set(readFileSync(`${dir}/git.ndjson`, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((x) => x.ok && x.syscall === "openat").map((x) => x.path));
    expect(no.denied.length, denied(no)).toBeGreaterThan(0);
    expect(no.denied.filter((x) => opened.has(x.path)), denied(no)).toEqual([]);
    expect(plain(git("log", "--oneline")).stdout.split("\n").filter(Boolean)).toHaveLength(1);
  }, 120_000);
});
