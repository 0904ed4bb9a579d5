// trace-grant attacked by the user it grants to, with real accounts: links that steer the plan to
// system files, a file swapped after planning, an ACL mask that widens another group, a write grant
// on /etc, and the access-check helper read through /proc and steered with ptrace. Each attempt must
// be refused or harmless: the system files' ACL, owner, mode and content are as they were.
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
  // useradd and userdel rewrite /etc/shadow (a new inode): not while another test plans and applies on it
  withHostLock(() => {
    if (spawnSync("id", [USER]).status !== 0) execFileSync("useradd", ["-m", "-s", "/bin/sh", USER]);
    if (spawnSync("getent", ["group", OTHER]).status !== 0) execFileSync("groupadd", [OTHER]);
  });
  uid = Number(sh(`id -u ${USER}`).stdout);
  gid = Number(sh(`id -g ${USER}`).stdout);
}, 900_000);
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  withHostLock(() => {
    spawnSync("userdel", ["-r", USER], { stdio: "ignore" });
    spawnSync("groupdel", [OTHER], { stdio: "ignore" });
  });
}, 900_000);

/** A root-only tree under /srv for one test, removed after it. */
function srv(name: string): string {
  const d = `/srv/lp-attack-${name}`;
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true, mode: 0o755 });
  chmodSync(d, 0o755);
  return d;
}

describe("links steer trace-grant", () => {
  it("a link of the user's to /etc/shadow, read as the user: refused with a reason, and nothing is granted", () => guarded(() => {
    asUser(`mkdir -p ~/.cache/app && ln -sf /etc/shadow ~/.cache/app/settings.conf`);
    const ev = run("trace-run", ["--user", USER, "--", "cat", `${HOME}/.cache/app/settings.conf`]).stdout;
    const r = run("trace-grant", ["--user", USER], ev);
    expect(r.status, r.stderr).toBe(0);
    const [plan, ...grants] = grantsOf(r.stdout);
    expect(grants.filter((g) => g.path === "/etc/shadow" || g.path?.startsWith(HOME))).toEqual([]);
    expect(plan.unchecked).toContainEqual(expect.objectContaining({ path: `${HOME}/.cache/app/settings.conf`, refused: true }));
    expect(r.stderr).toMatch(/^trace-grant: 1 denied path refused, not granted, because someone other than root could redirect it/);
    expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
    const before = snap(VICTIMS);
    writeFileSync(`${tmp}/shadow.sh`, run("trace-grant", ["--user", USER, "--format", "sh"], ev).stdout);
    expect(sh(`sh ${tmp}/shadow.sh`).status).toBe(0);
    expect(asUser(`cat ${HOME}/.cache/app/settings.conf`).status).not.toBe(0);
    expect(sh(`sh ${tmp}/shadow.sh undo`).status).toBe(0);
    expect(snap(VICTIMS)).toBe(before);
  }));

  it("two links of the user's to adm-group logs: no group membership is offered", () => guarded(() => {
    const logs = "/var/log/lp-attack-test";
    mkdirSync(logs, { recursive: true });
    try {
      for (const f of ["a.log", "b.log"]) { writeFileSync(`${logs}/${f}`, "log\n"); chmodSync(`${logs}/${f}`, 0o640); }
      execFileSync("chown", ["-R", "root:adm", logs]);
      chmodSync(logs, 0o750);
      asUser(`ln -sf ${logs}/a.log ~/a.log && ln -sf ${logs}/b.log ~/b.log`);
      const ev = run("trace-run", ["--user", USER, "--", "cat", `${HOME}/a.log`, `${HOME}/b.log`]).stdout;
      const [plan, ...grants] = grantsOf(run("trace-grant", ["--user", USER], ev).stdout);
      expect(grants.map((g) => g.grant)).toEqual([]);
      expect(plan.unchecked.filter((u: Rec) => u.refused).map((u: Rec) => u.path).sort()).toEqual([`${HOME}/a.log`, `${HOME}/b.log`]);
      const groups = sh(`id -nG ${USER}`).stdout;
      writeFileSync(`${tmp}/adm.sh`, run("trace-grant", ["--user", USER, "--format", "sh"], ev).stdout);
      expect(sh(`sh ${tmp}/adm.sh`).status).toBe(0);
      expect(sh(`id -nG ${USER}`).stdout).toBe(groups);
    } finally {
      rmSync(logs, { recursive: true, force: true });
    }
  }));

  it("a root job's chmod in the user's directory, then the file swapped for a link to a root file: no chown", () => guarded(() => {
    const drop = srv("drop");
    const victim = srv("victim") + "/secret";
    try {
      writeFileSync(victim, "root's\n");
      chmodSync(victim, 0o600);
      execFileSync("chown", [USER, drop]);
      writeFileSync(`${drop}/report.txt`, "report\n");             // root's, in the user's directory
      const ev = run("trace-run", ["--", "chmod", "0640", `${drop}/report.txt`]).stdout;
      const r = run("trace-grant", ["--user", USER, "--format", "sh"], ev);
      writeFileSync(`${tmp}/chown.sh`, r.stdout);
      const before = snap([victim, ...VICTIMS]);
      asUser(`rm ${drop}/report.txt && ln -s ${victim} ${drop}/report.txt`);
      expect(sh(`sh ${tmp}/chown.sh`).status).toBe(0);
      expect(snap([victim, ...VICTIMS])).toBe(before);
      expect(sh(`sh ${tmp}/chown.sh undo`).status).toBe(0);
      expect(snap([victim, ...VICTIMS])).toBe(before);
      expect(r.stdout).not.toMatch(/chown/);
      expect(r.stderr).toMatch(/refused, not granted/);
    } finally {
      rmSync(drop, { recursive: true, force: true });
      rmSync(victim.slice(0, victim.lastIndexOf("/")), { recursive: true, force: true });
    }
  }));

  it("after an apply that opened a directory, a granted file swapped for a link to /etc/shadow: the next apply refuses it", () => guarded(() => {
    const app = srv("app");
    try {
      writeFileSync(`${app}/state.txt`, "state\n");
      chmodSync(`${app}/state.txt`, 0o600);
      const ev = run("trace-run", ["--", "sh", "-c", `cat ${app}/state.txt > /dev/null && touch ${app}/new && rm ${app}/new`]).stdout;
      const script = run("trace-grant", ["--user", USER, "--format", "sh"], ev).stdout;
      // write on the directory is root in all but name: the script leaves it out unless the admin insists, as here
      writeFileSync(`${tmp}/app.sh`, script.replace(new RegExp(`^  # +(if ! already ${app} )`, "m"), "  $1"));
      const before = snap(VICTIMS);
      expect(sh(`sh ${tmp}/app.sh`).status).toBe(0);
      expect(asUser(`cat ${app}/state.txt`).stdout).toBe("state\n");
      // the user, now able to write the directory, swaps the file for a link, and apply runs again
      expect(asUser(`mv ${app}/state.txt ${app}/old && ln -s /etc/shadow ${app}/state.txt`).status).toBe(0);
      const again = sh(`sh ${tmp}/app.sh`);
      expect(again.status).toBe(1);
      expect(again.stderr).toMatch(new RegExp(`${app}/state.txt: refused: `));
      expect(snap(VICTIMS)).toBe(before);
      expect(asUser("cat /etc/shadow").status).not.toBe(0);
      sh(`sh ${tmp}/app.sh undo`);
      expect(snap(VICTIMS)).toBe(before);
      expect(script).toMatch(new RegExp(`^  # +if ! already ${app} `, "m"));
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  }));
});

describe("the ACL mask", () => {
  it("group:other:rw- under mask::r--: apply leaves that group at r--, undo restores the ACL exactly", () => guarded(() => {
    const d = srv("mask");
    try {
      const f = `${d}/f`;
      writeFileSync(f, "data\n");
      chmodSync(f, 0o640);
      execFileSync("setfacl", ["-m", `g:${OTHER}:rw`, f]);
      execFileSync("setfacl", ["-n", "-m", "m::r", f]);
      const aclBefore = sh(`getfacl -n -p ${f}`).stdout, statBefore = sh(`stat -c '%u %g %a %i' ${f}`).stdout;
      const ev = run("trace-run", ["--", "sh", "-c", `cat ${f} > /dev/null && echo more >> ${f}`]).stdout;
      writeFileSync(`${tmp}/mask.sh`, run("trace-grant", ["--user", USER, "--format", "sh"], ev).stdout);
      expect(sh(`sh ${tmp}/mask.sh`).status).toBe(0);
      const acl = sh(`getfacl -n -E -c ${f}`).stdout;
      expect(acl).toMatch(new RegExp(`^user:${uid}:rw-$`, "m"));
      const ogid = sh(`getent group ${OTHER} | cut -d: -f3`).stdout.trim();
      // the other group's effective right is still read only: its entry narrowed to what the old mask let through
      expect(sh(`getfacl -n ${f}`).stdout).toMatch(new RegExp(`^group:${ogid}:r--$`, "m"));
      expect(asUser(`echo x >> ${f}`).status).toBe(0);
      for (let i = 0; i < 2; i++) expect(sh(`sh ${tmp}/mask.sh undo`).status).toBe(0);
      expect(sh(`getfacl -n -p ${f}`).stdout).toBe(aclBefore);
      expect(sh(`stat -c '%u %g %a %i' ${f}`).stdout).toBe(statBefore);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }));
});

describe("write on a system directory", () => {
  it("a job creating /etc/lp-job.state: /etc is marked root in all but name, with the narrower way, and the script leaves /etc alone", () => guarded(() => {
    const state = "/etc/lp-attack-job.state";
    const before = snap(VICTIMS);
    try {
      const ev = run("trace-run", ["--", "sh", "-c", `echo 1 > ${state}`]).stdout;
      rmSync(state, { force: true });                                   // as it was before the job first ran
      const grants = grantsOf(run("trace-grant", ["--user", USER], ev).stdout).slice(1);
      const etc = grants.find((g) => g.path === "/etc")!;
      expect([etc.grant, etc.dirWrite, etc.rootEquivalent]).toEqual(["acl", true, true]);
      expect(etc.alternative).toMatch(/StateDirectory=/);
      const text = run("trace-grant", ["--user", USER, "--format", "text"], ev).stdout;
      expect(text).toMatch(/\/etc {2}\S+ {2}\(root in all but name\)/);
      writeFileSync(`${tmp}/etc.sh`, run("trace-grant", ["--user", USER, "--format", "sh"], ev).stdout);
      expect(sh(`sh ${tmp}/etc.sh`).status).toBe(0);
      expect(snap(VICTIMS)).toBe(before);
      expect(asUser(`touch ${state}`).status).not.toBe(0);
      expect(sh(`sh ${tmp}/etc.sh undo`).status).toBe(0);
      expect(snap(VICTIMS)).toBe(before);
    } finally {
      rmSync(state, { force: true });
    }
  }));
});

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
