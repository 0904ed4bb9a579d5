// trace-grant on real runs, with a real user: the plan, applied with its own script, lets the user do
// what root did; its undo restores the host. Needs root (to create the user and to ask as it).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run, withHostLock } from "../helpers.js";

const USER = "lp-grant-test";
const LOGS = "/var/log/lp-grant-test";
const tmp = mkdtempSync(tmpdir() + "/trace-grant-");
chmodSync(tmp, 0o755);                                      // the user must reach the script, and only that

interface Rec { type: string; [k: string]: any }
const sh = (cmd: string) => spawnSync("sh", ["-c", cmd], { encoding: "utf8" });
const acls = (paths: string[]) => sh(`getfacl -n --absolute-names -- ${paths.map((p) => `'${p}'`).join(" ")} 2>/dev/null`).stdout;
const groupsOf = (u: string) => sh(`id -nG ${u}`).stdout.trim().split(/\s+/);
/** The paths (as profiled) that a run was refused: EACCES or EPERM. */
function refused(events: string): Set<string> {
  const prof = run("trace-summarize", [], run("trace-filter", ["--errno", "EACCES", "--errno", "EPERM"], events).stdout).records();
  return new Set(prof.filter((r: Rec) => r.type === "summary" && r.path).map((r: Rec) => r.path as string));
}

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("trace-grant's tests create a user and ask as it: run them as root (.ci/run does)");
  // useradd and userdel rewrite /etc/shadow (a new inode): not while another test plans and applies on it
  if (spawnSync("id", [USER]).status !== 0) withHostLock(() => execFileSync("useradd", ["-m", "-s", "/bin/sh", USER]));
  // two logs of group adm, as syslog keeps them on a Debian host with rsyslog
  mkdirSync(LOGS, { recursive: true });
  writeFileSync(`${LOGS}/app.log`, "app\n");
  writeFileSync(`${LOGS}/auth.log`, "auth\n");
  execFileSync("chown", ["-R", "root:adm", LOGS]);
  chmodSync(LOGS, 0o750);
  chmodSync(`${LOGS}/app.log`, 0o640);
  chmodSync(`${LOGS}/auth.log`, 0o640);
}, 900_000);
afterAll(() => {
  rmSync(LOGS, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
  withHostLock(() => spawnSync("userdel", ["-r", USER], { stdio: "ignore" }));
}, 900_000);

describe("trace-grant: a script that reads /etc/shadow, lists /var/log, reads two adm logs, binds port 80", () => {
  const tool = `${tmp}/tool.sh`;
  const clean = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"];   // not the test runner's PATH, with whatever is in it
  let events = "";
  const low = Number(sh("cat /proc/sys/net/ipv4/ip_unprivileged_port_start").stdout) > 80;
  beforeAll(() => {
    writeFileSync(tool, `#!/bin/sh\ncat /etc/shadow > /dev/null\nls /var/log > /dev/null\ncat ${LOGS}/app.log ${LOGS}/auth.log > /dev/null\n` +
      `/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 80))'\n`);
    chmodSync(tool, 0o755);
    const r = run("trace-run", ["--", ...clean, tool]);
    expect(r.status, r.stderr).toBe(0);
    events = r.stdout;
  });

  it("plans exactly: an ACL for /etc/shadow, group adm for the logs, the bind capability; nothing for /var/log", () => {
    const r = run("trace-grant", ["--user", USER], events);
    expect(r.status, r.stderr).toBe(0);
    const [plan, ...grants] = r.records() as Rec[];
    expect(plan).toMatchObject({ type: "plan", user: USER, groups: [USER] });
    expect(plan.note).toMatch(/^Decided by the kernel of /);
    const brief = grants.map((g) => [g.grant, g.path ?? g.group ?? g.capability, g.perms ?? null]);
    expect(brief).toEqual([
      ["group", "adm", null],
      ["acl", "/etc/shadow", "r"],                                // the shadow group reads every hash: never offered
      ...(low ? [["capability", "CAP_NET_BIND_SERVICE", null]] : []),
    ]);
    const adm = grants[0];
    expect(adm.accesses).toEqual(expect.arrayContaining([`read ${LOGS}/app.log`, `read ${LOGS}/auth.log`]));
    expect(adm.because).toMatch(/already owns 3 of the denied paths/);   // the directory and both files
    const uid = sh(`id -u ${USER}`).stdout.trim();
    expect(grants[1].acl).toEqual({ before: "user::rw-,group::r--,other::---", after: `user::rw-,user:${uid}:r--,group::r--,mask::r--,other::---` });
    expect(grants[1].apply).toEqual([`setfacl -n --set ${grants[1].acl.after} -- /etc/shadow`]);
    expect(grants[1].inode).toBe(sh("stat -c %d:%i /etc/shadow").stdout.trim());
    expect(plan.grants).toEqual({ group: 1, acl: 1, ...(low ? { capability: 1 } : {}) });
    // without groups, the logs and their directory get ACLs instead
    const noGroups = (run("trace-grant", ["--user", USER, "--no-groups"], events).records() as Rec[]).slice(1);
    expect(noGroups.map((g) => [g.grant, g.path ?? g.capability, g.perms ?? null])).toEqual([
      ["search", LOGS, "x"], ["acl", "/etc/shadow", "r"], ["acl", `${LOGS}/app.log`, "r"], ["acl", `${LOGS}/auth.log`, "r"],
      ...(low ? [["capability", "CAP_NET_BIND_SERVICE", null]] : []),
    ]);
  });

  it("the script grants, the user's run is then refused only the port, and undo restores the host", () => withHostLock(() => {
    const script = run("trace-grant", ["--user", USER, "--format", "sh"], events).stdout;
    writeFileSync(`${tmp}/grants.sh`, script);
    const before = acls(["/etc/shadow", LOGS, `${LOGS}/app.log`]);
    expect(refused(run("trace-run", ["--user", USER, "--", ...clean, tool]).stdout)).toEqual(new Set(["/etc/shadow", `${LOGS}/app.log`, `${LOGS}/auth.log`]));
    for (let i = 0; i < 2; i++) expect(sh(`sh ${tmp}/grants.sh`).status).toBe(0);          // idempotent
    expect(groupsOf(USER)).toContain("adm");
    const after = run("trace-run", ["--user", USER, "--", ...clean, tool]).stdout;
    expect(refused(after)).toEqual(new Set());
    const bind = (run("trace-filter", ["--network", "--op", "bind"], after).records() as Rec[]).filter((r) => r.type === "syscall");
    expect(bind.map((b) => b.errno ?? "ok")).toEqual([low ? "EACCES" : "ok"]);               // capabilities are not the script's to give
    for (let i = 0; i < 2; i++) expect(sh(`sh ${tmp}/grants.sh undo`).status).toBe(0);
    expect(acls(["/etc/shadow", LOGS, `${LOGS}/app.log`])).toBe(before);
    expect(groupsOf(USER)).not.toContain("adm");
  }));

  it("a report and a systemd drop-in that systemd-analyze accepts", () => {
    const text = run("trace-grant", ["--user", USER, "--format", "text"], events).stdout;
    expect(text.split("\n")[0]).toBe(`To run \`${clean.join(" ")} ${tool}\` as \`${USER}\` on ${sh("hostname").stdout.trim()}: ` +
      (low ? "3 grants — 1 group, 1 ACL, 1 capability." : "2 grants — 1 group, 1 ACL."));
    const d = run("trace-grant", ["--user", USER, "--format", "systemd"], events).stdout;
    expect(d).toMatch(new RegExp(`^User=${USER}$`, "m"));
    expect(d).toMatch(/^SupplementaryGroups=adm$/m);
    if (low) expect(d).toMatch(/^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
    const units = `${tmp}/units`;
    mkdirSync(`${units}/lp-grant.service.d`, { recursive: true });
    writeFileSync(`${units}/lp-grant.service`, `[Unit]\nDescription=leastpriv test\n[Service]\nExecStart=${tool}\n`);
    writeFileSync(`${units}/lp-grant.service.d/user.conf`, d);
    const v = spawnSync("systemd-analyze", ["verify", `${units}/lp-grant.service`], { encoding: "utf8", env: { ...process.env, SYSTEMD_UNIT_PATH: units + ":" } });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stderr).not.toMatch(/user\.conf/);
  });

  it("bad input, an unknown user, root, and | head", () => {
    const bad = run("trace-grant", ["--user", USER], "not json\n");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe("trace-grant: <stdin>:1: invalid JSON: Unexpected token 'o', \"not json\" is not valid JSON\ntrace-grant: the input was not read whole: no plan made\n");
    expect(bad.stdout).toBe("");
    const who = run("trace-grant", ["--user", "no-such-user-here"], events);
    expect([who.status, who.stderr]).toEqual([2, "trace-grant: no-such-user-here: no such user on this host\n"]);
    expect(run("trace-grant", ["--user", "root"], events).status).toBe(2);
    const head = spawnSync("sh", ["-c", `node ${ROOT}dist/commands/trace-grant.js --user ${USER} | head -n1`], { input: events, encoding: "utf8" });
    expect(head.status).toBe(0);
    expect(JSON.parse(head.stdout).type).toBe("plan");
    expect(head.stderr).toBe("");
  });
});

describe("trace-grant: lynis, a root-only audit tool, run as an ordinary user", () => {
  const LYNIS = ["lynis", "audit", "system", "--quick", "--no-colors", "--no-plugins", "--tests-from-group", "authentication"];
  const env = (home: string) => ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", `HOME=${home}`];
  let rootRun = "";
  let plan: Rec;
  let grants: Rec[] = [];

  beforeAll(() => {
    const r = run("trace-run", ["--stdout", "/dev/null", "--", ...env("/root"), ...LYNIS]);
    expect(r.status, r.stderr).toBe(0);
    rootRun = r.stdout;
    [plan, ...grants] = run("trace-grant", ["--user", USER], rootRun).records() as Rec[];
  }, 300_000);

  it("finds denials (the password files among them) and grants only what the run used", () => {
    expect(plan.denied).toBeGreaterThan(0);
    const acl = grants.filter((g) => g.grant === "acl").map((g) => g.path);
    expect(acl).toEqual(expect.arrayContaining(["/etc/shadow"]));
    // every file grant names a path the run used, or a directory on the way to one
    const used = (run("trace-summarize", [], rootRun).records() as Rec[]).filter((s) => s.kind === "file").map((s) => s.path as string);
    for (const g of grants.filter((x) => x.grant === "acl" || x.grant === "search")) {
      for (const p of g.paths ?? [g.path]) expect(used.some((u) => u === p || u.startsWith(p === "/" ? "/" : p + "/")), p).toBe(true);
    }
    // what no grant covers is said, with the capability it would take
    for (const g of grants.filter((x) => x.grant === "none")) expect(g.because).toMatch(/CAP_[A-Z_]+|read-only/);
  });

  it("after the plan's script, the user's run is refused nothing the plan covers; undo restores the ACLs", () => withHostLock(() => {
    const script = run("trace-grant", ["--user", USER, "--format", "sh"], rootRun).stdout;
    writeFileSync(`${tmp}/lynis-grants.sh`, script);
    // what the script applies: not write on a system directory (root in all but name: left to the admin)
    const granted = grants.filter((g) => ["acl", "search"].includes(g.grant) && !g.rootEquivalent).flatMap((g) => g.paths ?? [g.path]) as string[];
    const before = acls(granted);
    const apply = sh(`sh ${tmp}/lynis-grants.sh`);
    expect(apply.status, apply.stderr).toBe(0);
    try {
      const r = run("trace-run", ["--user", USER, "--stdout", "/dev/null", "--", ...env(`/home/${USER}`), ...LYNIS]);
      expect(r.status, r.stderr).toBe(0);
      const left = refused(r.stdout);
      for (const p of granted) expect(left.has(p), `${p} is still refused`).toBe(false);
      expect(left.has("/etc/shadow")).toBe(false);
    } finally {
      const undo = sh(`sh ${tmp}/lynis-grants.sh undo`);
      expect(undo.status, undo.stderr).toBe(0);
    }
    expect(acls(granted)).toBe(before);
  }), 600_000);
});
