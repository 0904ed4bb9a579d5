// trace-grant attacked by the user it grants to, with real accounts: the access-check helper read
// through /proc and steered with ptrace. Each attempt must be refused or harmless.
// Needs root (to create the users, trace as them, and apply the plans).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run, withHostLock } from "../helpers.js";

const USER = "lp-attack-test";
const OTHER = "lp-attack-other";                         // a group that must gain nothing
const HOME = `/home/${USER}`;
const VICTIMS = ["/etc/shadow", "/etc/passwd", "/etc", "/etc/group"];
const tmp = mkdtempSync(tmpdir() + "/grant-attacks-");
chmodSync(tmp, 0o755);
let uid = 0, gid = 0;

interface Rec { type: string; [k: string]: any }
const sh = (cmd: string) => spawnSync("sh", ["-c", cmd], { encoding: "utf8" });
/** As the user: its ids and groups, a clean environment. */
const asUser = (cmd: string, opts: { timeout?: number } = {}) => spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--init-groups", "--",
  "env", "-i", "PATH=/usr/bin:/bin", `HOME=${HOME}`, "sh", "-c", cmd], { encoding: "utf8", ...opts });
/**
 * What must not change: ACL, owner, group and mode of each path, and the inode and content of files
 * that are ours (/etc/shadow and /etc/passwd are rewritten by every useradd on the host, so their
 * content is not compared).
 */
function snap(paths: string[]): string {
  return paths.map((p) => {
    const acl = sh(`getfacl -n -p -- '${p}' 2>&1`).stdout;
    const st = sh(`stat -c '%u %g %a %F' -- '${p}'`).stdout;
    const body = p.includes("lp-attack") ? sh(`stat -c %i -- '${p}'; test -f '${p}' && sha256sum -- '${p}'`).stdout : "";
    return `${acl}${st}${body}`;
  }).join("\n");
}
/** Runs fn holding the host lock; whatever it does to the system files' ACLs and owners is put back after. */
function guarded(fn: () => void): void {
  withHostLock(() => {
    const saved = `${tmp}/victims.acl`;
    writeFileSync(saved, sh(`getfacl -n -p -- ${VICTIMS.join(" ")}`).stdout);
    try { fn(); } finally { sh(`setfacl --restore=${saved}`); }
  });
}
const grantsOf = (out: string) => out.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Rec);

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("these tests create users and grant as root: run them as root (.ci/run does)");
  execFileSync("npx", ["tsc", "-p", "."], { cwd: ROOT });
  if (spawnSync("id", [USER]).status !== 0) execFileSync("useradd", ["-m", "-s", "/bin/sh", USER]);
  if (spawnSync("getent", ["group", OTHER]).status !== 0) execFileSync("groupadd", [OTHER]);
  uid = Number(sh(`id -u ${USER}`).stdout);
  gid = Number(sh(`id -g ${USER}`).stdout);
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  spawnSync("userdel", ["-r", USER], { stdio: "ignore" });
  spawnSync("groupdel", [OTHER], { stdio: "ignore" });
});

/** A root-only tree under /srv for one test, removed after it. */
function srv(name: string): string {
  const d = `/srv/lp-attack-${name}`;
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true, mode: 0o755 });
  chmodSync(d, 0o755);
  return d;
}

describe("the access-check helper, attacked while it runs", () => {
  const secret = "/srv/lp-attack-secret";
  let events = "";
  let baseline: Rec[] = [];
  beforeAll(() => {
    rmSync(secret, { recursive: true, force: true });
    mkdirSync(secret, { mode: 0o700 });
    chmodSync(secret, 0o700);
    // many files, so that each helper has a batch to work through
    for (let i = 0; i < 300; i++) writeFileSync(`${secret}/f${i}`, `SECRET-CONTENT-${i}\n`, { mode: 0o644 });
    writeFileSync(`${secret}/shadowish`, "x\n", { mode: 0o600 });
    events = run("trace-run", ["--", "sh", "-c", `cat ${secret}/* > /dev/null`]).stdout;
    baseline = grantsOf(run("trace-grant", ["--user", USER], events).stdout).slice(1);
    expect(baseline.find((g) => g.path === `${secret}/shadowish`)?.perms).toBe("r");
  });
  afterAll(() => rmSync(secret, { recursive: true, force: true }));

  /** The pid of trace-grant's first helper, stopped once it runs as the user; undefined when it got away. */
  function stopHelper(tg: number): number | undefined {
    const deadline = Date.now() + 20_000;
    let helper: number | undefined;
    while (Date.now() < deadline && helper === undefined) {
      // trace-grant's children (id and getent run first); the helper is the one that checks /proc/self/fd/N
      let kids: string[] = [];
      try { kids = readFileSync(`/proc/${tg}/task/${tg}/children`, "utf8").split(" ").filter(Boolean); } catch { return undefined; }
      for (const k of kids) {
        try { if (readFileSync(`/proc/${k}/cmdline`, "utf8").includes("/proc/self/fd/")) helper = Number(k); } catch { /* gone */ }
      }
    }
    if (helper === undefined) return undefined;
    for (;;) {
      let status: string;
      try { status = readFileSync(`/proc/${helper}/status`, "utf8"); } catch { return undefined; }
      if (new RegExp(`^Uid:\\t${uid}\\t`, "m").test(status)) { process.kill(helper, "SIGSTOP"); break; }
    }
    try { readFileSync(`/proc/${helper}/status`); return helper; } catch { return undefined; }
  }

  /** Runs trace-grant until its first helper is caught running as the user, and attacks it there. */
  async function attack(what: (pid: number) => Promise<void>): Promise<Rec[]> {
    for (let tries = 0; tries < 40; tries++) {
      const out = `${tmp}/plan-${tries}.ndjson`, input = `${tmp}/events.ndjson`;
      writeFileSync(input, events);
      const fd = openSync(out, "w");
      const tg = spawn(process.execPath, [ROOT + "dist/commands/trace-grant.js", "--user", USER, input], { stdio: ["ignore", fd, "pipe"] });
      closeSync(fd);
      const done = new Promise<number>((res) => tg.on("close", (c) => res(c ?? -1)));
      const pid = stopHelper(tg.pid!);
      if (pid !== undefined) {
        try { await what(pid); } finally { process.kill(pid, "SIGCONT"); }
        const code = await done;
        expect(code).toBe(0);
        return grantsOf(readFileSync(out, "utf8")).slice(1);
      }
      await done;
    }
    throw new Error("never caught trace-grant's helper running as the user");
  }

  it("the user cannot read root's files through the helper's descriptors in /proc", async () => {
    let read = "", tried = "";
    const grants = await attack(async (pid) => {
      // 0-2 are its pipes; from 3 on, what it checks
      const r = asUser(`ls /proc/${pid}/fd/ >&2; for f in /proc/${pid}/fd/*; do case $f in */[012]) continue ;; esac; cat "$f" </dev/null; done`, { timeout: 10_000 });
      read = r.stdout;
      tried = r.stderr;
    });
    expect(read).not.toMatch(/SECRET-CONTENT/);
    expect(tried).toMatch(/Permission denied/);
    expect(grants).toEqual(baseline);
  }, 120_000);

  it("the user cannot ptrace the helper to inject the kernel's answers", async () => {
    let said = "";
    const grants = await attack(async (pid) => {
      const st = spawn("setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--init-groups", "--", "strace", "-p", String(pid), "-o", "/dev/null",
        "-e", "trace=access,faccessat,faccessat2", "-e", "inject=access,faccessat,faccessat2:retval=0"], { stdio: ["ignore", "ignore", "pipe"] });
      st.stderr!.setEncoding("utf8").on("data", (d: string) => { said += d; });
      const ended = new Promise((res) => st.on("close", res));
      // attached (TracerPid set) or refused (strace ended): whichever comes first
      for (let attached = false, gone = false; !attached && !gone;) {
        gone = st.exitCode !== null;
        attached = /^TracerPid:\t[1-9]/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
        await new Promise((res) => setImmediate(res));
      }
      if (st.exitCode === null) { process.kill(pid, "SIGCONT"); await ended; } else await ended;
    });
    expect(grants.find((g) => g.path === `${secret}/shadowish`)?.perms).toBe("r");
    expect(grants).toEqual(baseline);
    expect(said).toMatch(/Operation not permitted/);
  }, 120_000);
});
