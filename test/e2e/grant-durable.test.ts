// trace-grant plans that outlive the account: applied for a real user, who is then deleted (userdel -r).
// Undo must leave no entry behind (the ACL as before, exactly), say what it took back, and apply must
// not grant to the number the deleted name had. Needs root (to create the account and apply the plan).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run, withHostLock } from "../helpers.js";

const USER = "lp-durable-test";
const GROUP = "lp-durable-grp";
const DIR = "/srv/lp-durable-test";
const tmp = mkdtempSync(tmpdir() + "/grant-durable-");

interface Rec { type: string; [k: string]: any }
const sh = (cmd: string) => spawnSync("sh", ["-c", cmd], { encoding: "utf8" });
const acls = () => sh(`getfacl -n -p -R -- ${DIR} 2>&1`).stdout;
const files = [`${DIR}/secret`, `${DIR}/logs/a.log`, `${DIR}/logs/b.log`];

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("these tests create an account and grant as root: run them as root (.ci/run does)");
  // a root-only file (an ACL grant) and two logs of a group of their own (a group grant), in a tree of root's
  withHostLock(() => { if (spawnSync("getent", ["group", GROUP]).status !== 0) execFileSync("groupadd", [GROUP]); });
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(`${DIR}/logs`, { recursive: true });
  chmodSync(DIR, 0o755);
  writeFileSync(files[0], "root's\n");
  chmodSync(files[0], 0o600);
  for (const f of files.slice(1)) { writeFileSync(f, "log\n"); chmodSync(f, 0o640); }
  execFileSync("chown", ["-R", `root:${GROUP}`, `${DIR}/logs`]);
  chmodSync(`${DIR}/logs`, 0o750);
}, 900_000);
afterAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
  withHostLock(() => {
    spawnSync("userdel", ["-r", USER], { stdio: "ignore" });
    spawnSync("groupdel", [GROUP], { stdio: "ignore" });
  });
}, 900_000);

describe("a plan applied, then the user deleted", () => {
  it("undo takes back every entry by number and says so; apply grants nothing to the deleted name's number", () => withHostLock(() => {
    execFileSync("useradd", ["-m", "-s", "/bin/sh", USER]);
    try {
      const uid = Number(sh(`id -u ${USER}`).stdout);
      const gid = Number(sh(`getent group ${GROUP} | cut -d: -f3`).stdout);
      const ev = run("trace-run", ["--", "cat", ...files]);
      expect(ev.status, ev.stderr).toBe(0);
      const [plan, ...grants] = run("trace-grant", ["--user", USER], ev.stdout).records() as Rec[];
      expect(plan.uid).toBe(uid);
      expect(grants.map((g) => [g.grant, g.group ?? g.path, g.uid, g.gid ?? null])).toEqual([
        ["group", GROUP, uid, gid], ["acl", files[0], uid, null],
      ]);
      const script = `${tmp}/plan.sh`;
      writeFileSync(script, run("trace-grant", ["--user", USER, "--format", "sh"], ev.stdout).stdout);
      const before = acls();
      const apply = sh(`sh ${script} apply`);
      expect([apply.status, apply.stderr]).toEqual([0, ""]);
      expect(acls()).toContain(`user:${uid}:r--`);
      expect(sh(`id -nG ${USER}`).stdout.split(/\s+/)).toContain(GROUP);

      execFileSync("userdel", ["-r", USER], { stdio: "ignore" });
      // the name is gone: apply refuses (the entries are by number, which the next account may get)
      const again = sh(`sh ${script} apply`);
      expect(again.status).toBe(1);
      expect(again.stderr).toBe(`${script}: ${USER}: refused: not uid ${uid} on this host now (gone, or made again): nothing applied, make the plan again\n`);
      const undo = sh(`sh ${script} undo`);
      expect([undo.status, undo.stderr]).toEqual([0, ""]);
      expect(undo.stdout).toBe(`${script}: ${files[0]}: removed user:${uid}:r--; its ACL is as before the grant\n` +
        `${script}: ${USER} (uid ${uid}) is gone, and its membership of group ${GROUP} with it: nothing to remove\n`);
      expect(acls()).toBe(before);
      expect(acls()).not.toMatch(new RegExp(`user:${uid}:`));
      // undone is undone: again, nothing to do and nothing said of the file
      const twice = sh(`sh ${script} undo`);
      expect([twice.status, twice.stderr]).toEqual([0, ""]);
      expect(twice.stdout).not.toMatch(/removed/);
      expect(acls()).toBe(before);
    } finally {
      spawnSync("userdel", ["-r", USER], { stdio: "ignore" });
    }
  }), 300_000);

  it("while the user is there, undo says what it removed: the ACL entry and the membership", () => withHostLock(() => {
    execFileSync("useradd", ["-m", "-s", "/bin/sh", USER]);
    try {
      const uid = Number(sh(`id -u ${USER}`).stdout);
      const gid = Number(sh(`getent group ${GROUP} | cut -d: -f3`).stdout);
      const ev = run("trace-run", ["--", "cat", ...files]).stdout;
      const script = `${tmp}/plan2.sh`;
      writeFileSync(script, run("trace-grant", ["--user", USER, "--format", "sh"], ev).stdout);
      const before = acls();
      expect(sh(`sh ${script}`).status).toBe(0);
      const undo = sh(`sh ${script} undo`);
      expect([undo.status, undo.stderr]).toEqual([0, ""]);
      expect(undo.stdout).toBe(`${script}: ${files[0]}: removed user:${uid}:r--; its ACL is as before the grant\n` +
        `${script}: removed ${USER} (uid ${uid}) from group ${GROUP} (gid ${gid})\n`);
      expect(sh(`id -nG ${USER}`).stdout.split(/\s+/)).not.toContain(GROUP);
      expect(acls()).toBe(before);
    } finally {
      spawnSync("userdel", ["-r", USER], { stdio: "ignore" });
    }
  }), 300_000);
});

describe("a grant that exposes secrets", () => {
  it("says so in the record, the report, the script and the drop-in; --sensitive replaces the list", () => withHostLock(() => {
    execFileSync("useradd", ["-m", "-s", "/bin/sh", USER]);
    try {
      const ev = run("trace-run", ["--", "cat", "/etc/shadow", files[0]]);
      expect(ev.status, ev.stderr).toBe(0);
      const grants = (run("trace-grant", ["--user", USER], ev.stdout).records() as Rec[]).slice(1);
      expect(grants.map((g) => [g.path, g.secret ?? null])).toEqual([
        ["/etc/shadow", "/etc/shadow is on the list of sensitive files"], [files[0], null],
      ]);
      const text = run("trace-grant", ["--user", USER, "--format", "text"], ev.stdout).stdout;
      expect(text.match(/^ {6}exposes secrets: .*$/gm)).toEqual(["      exposes secrets: /etc/shadow is on the list of sensitive files"]);
      const script = run("trace-grant", ["--user", USER, "--format", "sh"], ev.stdout).stdout;
      const shadowStep = script.split("\n").findIndex((l) => l === "  # acl /etc/shadow: read /etc/shadow");
      expect(script.split("\n")[shadowStep + 1]).toBe("  # EXPOSES SECRETS: /etc/shadow is on the list of sensitive files");
      expect(script.match(/EXPOSES SECRETS/g)).toHaveLength(1);
      const unit = run("trace-grant", ["--user", USER, "--format", "systemd"], ev.stdout).stdout;
      expect(unit.match(/^# exposes secrets.*$/gm)).toEqual(["# exposes secrets (acl /etc/shadow): /etc/shadow is on the list of sensitive files"]);
      // the list replaced, as trace-summarize --sensitive: now the test's file is the secret, /etc/shadow is not
      writeFileSync(`${tmp}/sensitive`, `# ours\n${DIR}/*\n`);
      const mine = (run("trace-grant", ["--user", USER, "--sensitive", `${tmp}/sensitive`], ev.stdout).records() as Rec[]).slice(1);
      expect(mine.map((g) => [g.path, g.secret ?? null])).toEqual([["/etc/shadow", null], [files[0], `${files[0]} is on the list of sensitive files`]]);
    } finally {
      spawnSync("userdel", ["-r", USER], { stdio: "ignore" });
    }
  }), 300_000);
});

describe("grants no longer in force", () => {
  it("check names a file replaced (a new inode) and a membership removed; apply restores both; undo leaves the host as before", () => withHostLock(() => {
    execFileSync("useradd", ["-m", "-s", "/bin/sh", USER]);
    try {
      const uid = Number(sh(`id -u ${USER}`).stdout);
      const ev = run("trace-run", ["--", "cat", ...files]).stdout;
      const script = `${tmp}/plan3.sh`;
      writeFileSync(script, run("trace-grant", ["--user", USER, "--format", "sh"], ev).stdout);
      const before = acls();
      expect(sh(`sh ${script} apply`).status).toBe(0);
      const ok = sh(`sh ${script} check`);
      expect([ok.status, ok.stdout, ok.stderr]).toEqual([0, `${script}: every grant of the plan is in force\n`, ""]);
      // the entry removed from the file planned on
      execFileSync("setfacl", ["-b", files[0]]);
      const entry = sh(`sh ${script} check`);
      expect([entry.status, entry.stdout]).toEqual([1, `${script}: ${files[0]}: not in force: its ACL is not the one granted (the entry removed or changed)\n`]);
      expect(sh(`sh ${script} apply`).status).toBe(0);
      expect(sh(`sh ${script} check`).status).toBe(0);
      // what account tools do to /etc/shadow: a new file renamed over the old one (here, the test's own file)
      const inode = sh(`stat -c %i ${files[0]}`).stdout;
      writeFileSync(`${files[0]}.new`, "root's, rewritten\n");
      chmodSync(`${files[0]}.new`, 0o600);
      renameSync(`${files[0]}.new`, files[0]);
      expect(sh(`stat -c %i ${files[0]}`).stdout).not.toBe(inode);
      execFileSync("gpasswd", ["-d", USER, GROUP], { stdio: "ignore" });
      const lost = sh(`sh ${script} check`);
      expect([lost.status, lost.stderr]).toEqual([1, ""]);
      expect(lost.stdout).toBe(`${script}: ${USER}: not in force: not in group ${GROUP} (the membership was removed)\n` +
        `${script}: ${files[0]}: not in force: replaced since it was planned (a new file, without the grant)\n`);
      const asUser = () => spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--init-groups", "--", "cat", ...files], { encoding: "utf8" });
      expect(asUser().status).not.toBe(0);
      // apply grants the new file again (its ACL is the one planned from) and the membership; again: nothing to do
      const again = sh(`sh ${script} apply`);
      expect([again.status, again.stderr]).toEqual([0, ""]);
      expect(again.stdout).toMatch(/replaced since it was planned \(only root can have\): granting the new file/);
      expect(sh(`sh ${script} check`).status).toBe(0);
      expect(asUser().stdout).toBe("root's, rewritten\nlog\nlog\n");
      const third = sh(`sh ${script} apply`);
      expect([third.status, third.stdout, third.stderr]).toEqual([0, "", ""]);
      // an entry removed by hand is named too (the file is the new one: said as replaced since planned)
      execFileSync("setfacl", ["-b", files[0]]);                         // every extended entry removed: as planned from
      const gone = sh(`sh ${script} check`);
      expect([gone.status, gone.stdout]).toEqual([1, `${script}: ${files[0]}: not in force: replaced since it was planned (a new file, without the grant)\n`]);
      expect(sh(`sh ${script} apply`).status).toBe(0);
      const undo = sh(`sh ${script} undo`);
      expect([undo.status, undo.stderr]).toEqual([0, ""]);
      expect(acls()).toBe(before);
      expect(sh(`id -nG ${USER}`).stdout.split(/\s+/)).not.toContain(GROUP);
    } finally {
      spawnSync("userdel", ["-r", USER], { stdio: "ignore" });
    }
  }), 300_000);
});
