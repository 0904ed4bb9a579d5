// The injections, each from a real traced run: a file name the traced program chose must not
// run in a grant plan, add a rule to an AppArmor profile or a directive to a systemd drop-in, become a
// glob, or reach the reviewer's terminal raw. Needs root (files in /var/lib, a test user, ACLs).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname } from "node:path";
import { ROOT, run, withHostLock } from "../helpers.js";

const USER = "lp-render-test";
const D = "/var/lib/lp-render-test";
const tmp = mkdtempSync(tmpdir() + "/names-");
chmodSync(tmp, 0o755);
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;           // any control byte but \t and \n, which text uses itself
const traced = (script: string) => {
  const r = run("trace-run", ["--", "sh", "-c", script]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
};
/** The lines of a file that are not comments or blank: what the target's parser acts on. */
const directives = (text: string) => text.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"));

function unitVerify(dropIn: string, name: string) {
  const units = `${tmp}/units-${name}`;
  mkdirSync(`${units}/lp-render.service.d`, { recursive: true });
  writeFileSync(`${units}/lp-render.service`, "[Unit]\nDescription=leastpriv test\n[Service]\nExecStart=/usr/bin/true\n");
  writeFileSync(`${units}/lp-render.service.d/x.conf`, dropIn);
  return spawnSync("systemd-analyze", ["verify", `${units}/lp-render.service`], { encoding: "utf8", env: { ...process.env, SYSTEMD_UNIT_PATH: units + ":" } });
}
function aaRules(profile: string, name: string): { status: number | null; stderr: string; exprs: string } {
  writeFileSync(`${tmp}/${name}`, profile);
  const ok = spawnSync("apparmor_parser", ["-Q", "-K", `${tmp}/${name}`], { encoding: "utf8" });
  const d = spawnSync("apparmor_parser", ["-Q", "-K", "-D", "rule-exprs", `${tmp}/${name}`], { encoding: "latin1" });
  return { status: ok.status, stderr: ok.stderr, exprs: d.stdout };
}

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("these tests make files in /var/lib and a user: run them as root (.ci/run does)");
  // useradd and userdel rewrite /etc/shadow (a new inode): not while another test plans and applies on it
  if (spawnSync("id", [USER]).status !== 0) withHostLock(() => execFileSync("useradd", ["-M", "-s", "/bin/sh", USER]));
  rmSync(D, { recursive: true, force: true });
  mkdirSync(D, { recursive: true });
  chmodSync(D, 0o755);
}, 900_000);
afterAll(() => {
  rmSync(D, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
  withHostLock(() => spawnSync("userdel", [USER], { stdio: "ignore" }));
}, 900_000);

describe("a file name that is a shell command", () => {
  it("the sh plan's comments and commands keep it a name: applying and undoing creates no PWNED4", () => withHostLock(() => {
    const f = `${D}/nl\ntouch PWNED4 #`;
    writeFileSync(f, "y\n");
    chmodSync(f, 0o600);
    const plan = run("trace-grant", ["--user", USER, "--format", "sh"], traced(`cat ${D}/nl* >/dev/null`));
    expect(plan.status, plan.stderr).toBe(0);
    writeFileSync(`${tmp}/plan.sh`, plan.stdout);
    expect(spawnSync("sh", ["-n", `${tmp}/plan.sh`]).status).toBe(0);
    const cwd = mkdtempSync(tmpdir() + "/names-cwd-");
    try {
      for (const step of ["apply", "undo"]) {
        const r = spawnSync("sh", [`${tmp}/plan.sh`, step], { cwd, encoding: "utf8" });
        expect(r.status, r.stderr).toBe(0);
        expect(existsSync(`${cwd}/PWNED4`), `after ${step}`).toBe(false);
        if (step === "apply") expect(spawnSync("su", [USER, "-s", "/bin/sh", "-c", `cat ${D}/nl*`], { encoding: "utf8" }).stdout).toBe("y\n");
      }
    } finally { rmSync(cwd, { recursive: true, force: true }); rmSync(f); }
  }));
});

describe("a failed chown of a name holding AppArmor rules", () => {
  it("the comment after the capability rule stays a comment: no /** rule, no sys_admin", () => {
    const name = `${D}/x\n  /** rwlkix,\n  capability sys_admin,\n  #`;
    // chown(2) itself (chown(1) gives up at its stat), failing: no such file
    const events = run("trace-run", ["--", "python3", "-c", "import os, sys\ntry: os.chown(sys.argv[1], 0, 0)\nexcept OSError: pass", name]).stdout;
    const p = run("trace-policy", ["--format", "apparmor"], events);
    expect(p.status, p.stderr).toBe(0);
    const rules = directives(p.stdout);
    expect(rules.some((l) => /^\s*\/\*\* /.test(l))).toBe(false);
    expect(rules.filter((l) => /capability/.test(l)).map((l) => l.replace(/#.*/, "").trim())).toEqual(["capability chown,"]);
    const aa = aaRules(p.stdout, "chown.aa");
    expect(aa.status, aa.stderr).toBe(0);
    expect(aa.exprs).not.toMatch(/^rule: \/\(\[\^/m);                        // no rule that is a glob over /
  });
});

describe("a written file whose name holds systemd directives", () => {
  it("the drop-ins of trace-policy and trace-grant hold only the directives the trace implies", () => {
    const d = `${D}/sd`;
    mkdirSync(d, { recursive: true });
    const inject = "\nExecStartPre=+/bin/sh -c 'touch /tmp/PWNED5'\nReadWritePaths=/\nCapabilityBoundingSet=CAP_SYS_ADMIN\nUser=root\n%h";
    const f = `${d}/w${inject}`;
    mkdirSync(dirname(f), { recursive: true });               // the name's slashes are directories
    writeFileSync(f, "");                                     // written, not created: the file itself is to be writable
    // the names reach the traced shell through its environment, byte for byte
    const r = run("trace-run", ["--", "env", `F=${f}`, `C=${d}/c\nUser=root`, "sh", "-c", 'printf x | dd of="$F" conv=nocreat,notrunc status=none; python3 -c "import os\ntry: os.chown(os.environ[\'C\'], 0, 0)\nexcept OSError: pass"']);
    expect(r.status, r.stderr).toBe(0);
    const events = r.stdout;
    expect(existsSync(f)).toBe(true);
    const policy = run("trace-policy", ["--format", "systemd"], events).stdout;
    const keys = directives(policy).map((l) => l.split("=")[0]);
    expect(keys).not.toContain("ExecStartPre");
    expect(keys).not.toContain("User");
    expect(keys.filter((k) => k === "ReadWritePaths" || k === "CapabilityBoundingSet")).toEqual(["CapabilityBoundingSet", "ReadWritePaths"]);
    expect(policy).toMatch(/^CapabilityBoundingSet=CAP_CHOWN$/m);
    expect(directives(policy).find((l) => l.startsWith("ReadWritePaths="))).toBe(`ReadWritePaths="-${d}/w\\x0aExecStartPre=+/bin/sh -c \\'touch /tmp/PWNED5\\'\\x0aReadWritePaths=/\\x0aCapabilityBoundingSet=CAP_SYS_ADMIN\\x0aUser=root\\x0a%%h"`);
    const v = unitVerify(policy, "policy");
    expect(v.status, v.stderr).toBe(0);
    expect(v.stderr).not.toMatch(/x\.conf/);
    // trace-grant's drop-in, for a user denied the directory
    chmodSync(d, 0o700);
    const grant = run("trace-grant", ["--user", USER, "--format", "systemd"], events).stdout;
    const gk = directives(grant).map((l) => l.split("=")[0]);
    expect(gk.filter((k) => k === "User")).toEqual(["User"]);
    expect(directives(grant).find((l) => l.startsWith("User="))).toBe(`User=${USER}`);
    // the only Exec lines are the drop-in's own: the plan's script, before start and after stop
    expect(directives(grant).filter((l) => l.startsWith("Exec"))).toEqual([`ExecStartPre=+/bin/sh /etc/trace-grant/${USER}.sh start`, `ExecStopPost=+/bin/sh /etc/trace-grant/${USER}.sh stop`]);
    const g = unitVerify(grant, "grant");
    expect(g.status, g.stderr).toBe(0);
    expect(g.stderr).not.toMatch(/x\.conf/);
    rmSync(d, { recursive: true, force: true });
  });
});

describe("files literally named like the tools' globs", () => {
  it("/…/** and /…/<tmp> are rules for those files only", () => {
    const d = `${D}/lit`;
    // made beforehand, written (not created) by the traced run: each file alone is to be writable
    mkdirSync(`${d}/app`, { recursive: true });
    for (const f of ["app/**", "<tmp>", "a[b]{c,d}?*"]) writeFileSync(`${d}/${f}`, "");
    const events = traced(`for f in '${d}/app/**' '${d}/<tmp>' '${d}/a[b]{c,d}?*'; do echo x | dd of="$f" conv=nocreat,notrunc status=none; done`);
    const p = run("trace-policy", ["--format", "apparmor"], events).stdout;
    expect(p).toContain(`  "${d}/app/\\*\\*" w,\n`);
    expect(p).toContain(`  "${d}/<tmp>" w,\n`);
    expect(p).toContain(`  "${d}/a\\[b\\]\\{c,d\\}\\?\\*" w,\n`);
    expect(p).not.toMatch(/\/app\/\*\* w,|\/\* w,/);
    const aa = aaRules(p, "lit.aa");
    expect(aa.status, aa.stderr).toBe(0);
    // the parser's own expressions for them: literal characters, no operator
    for (const l of aa.exprs.split("\n").filter((x) => x.startsWith("rule: " + d))) {
      expect(l.replace(/\\./g, "").replace(/ \(0x.*$/, ""), l).not.toMatch(/[()|*[\]]/);
    }
    // the systemd drop-in makes those files writable, not their directory
    const sd = run("trace-policy", ["--format", "systemd"], events).stdout;
    const rw = directives(sd).find((l) => l.startsWith("ReadWritePaths="))!;
    expect(rw).toBe(`ReadWritePaths="-${d}/<tmp>" "-${d}/a[b]{c,d}?*" "-${d}/app/**"`);
    // collapsed, the tools' own glob is one
    const c = run("trace-policy", ["--format", "apparmor", "--collapse", "1"], events).stdout;
    expect(c).toContain(`  ${d}/** w,\n`);
    // trace-filter: the literal "**" is one file, not everything under app/; a collapsed DIR/** is
    const summaries = (profile: string, glob: string) => run("trace-filter", ["--no-headers", "--path", glob], profile).records().map((x: { path: string }) => x.path);
    expect(summaries(run("trace-summarize", [], events).stdout, `${d}/app/x`)).toEqual([]);
    expect(summaries(run("trace-summarize", [], events).stdout, `${d}/app/*`)).toEqual([`${d}/app/**`]);
    expect(summaries(run("trace-summarize", ["--collapse", "1"], events).stdout, `${d}/x`)).toEqual([`${d}/**`]);
    rmSync(d, { recursive: true, force: true });
  });
});

describe("a name a target cannot take as it is", () => {
  it("is refused with one escaped line on stderr, and the rest is written", () => {
    const tool = `${D}/my tool\x1b[2J`;
    writeFileSync(tool, "#!/bin/sh\ncat /etc/hostname >/dev/null\n");
    chmodSync(tool, 0o755);
    const r = run("trace-policy", ["--format", "apparmor"], run("trace-run", ["--", tool]).stdout);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`trace-policy: my tool\\33[2J: not a name an AppArmor profile can have as it is: the profile is named "traced"\n`);
    expect(r.stdout).toContain(`profile traced "${D}/my tool\\033\\[2J" flags=(attach_disconnected) {\n`);
    expect(r.stdout).toContain("  /etc/hostname r,\n");
    const aa = aaRules(r.stdout, "refused.aa");
    expect(aa.status, aa.stderr).toBe(0);
    rmSync(tool);
  });
});

describe("terminal escapes in names", () => {
  const esc = `${D}/esc\x1b[2J\x1b[31mRED\x1b]0;title\x07`;
  let events = "";
  beforeAll(() => {
    writeFileSync(esc, "x\n");
    chmodSync(esc, 0o600);
    events = traced(`cat ${D}/esc* > /dev/null`);
  });
  it("text reports show them escaped", () => {
    const texts = {
      summarize: run("trace-summarize", ["--format", "text"], events),
      grant: run("trace-grant", ["--user", USER, "--format", "text"], events),
    };
    writeFileSync(`${tmp}/empty.profile`, run("trace-summarize", [], traced("true")).stdout);
    const diff = run("trace-diff", ["--format", "text", `${tmp}/empty.profile`], events);
    for (const [what, r] of Object.entries({ ...texts, diff })) {
      expect(r.stdout, what).toContain("esc\\33[2J\\33[31mRED\\33]0;title\\7");
      expect(r.stdout, what).not.toMatch(RAW_CONTROL);
    }
  });
  it("diagnostics on stderr too", () => {
    const r = run("trace-summarize", [esc + ".missing"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`trace-summarize: ${D}/esc\\33[2J\\33[31mRED\\33]0;title\\7.missing: No such file or directory\n`);
  });
});
