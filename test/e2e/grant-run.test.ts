// Grants that exist only while the job runs: `sh plan.sh run -- COMMAND` applies, runs COMMAND as the
// user, undoes, and passes on its status; the systemd drop-in does the same in ExecStartPre=+ and
// ExecStopPost=+. Real accounts and files; needs root (to make the account and apply the plan).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { run, withHostLock } from "../helpers.js";

const USER = "lp-grants-run";
const GROUP = "lp-grants-rgrp";
const DIR = "/srv/lp-grants-run";
const tmp = mkdtempSync(tmpdir() + "/grant-run-");
chmodSync(tmp, 0o755);                                     // the user reaches the fifo, and only that
const files = [`${DIR}/secret`, `${DIR}/logs/a.log`, `${DIR}/logs/b.log`];

const sh = (cmd: string, input?: string) => spawnSync("sh", ["-c", cmd], { encoding: "utf8", input });
/** Everything a grant could change: each granted file's ACL, owner, mode and inode; the user's groups. */
const state = () => sh(`getfacl -n -p -R -- ${DIR} 2>&1; stat -c '%n %u %g %a %i' -- ${DIR} ${DIR}/logs ${files.join(" ")}; id -nG ${USER}`).stdout;

let script = "";
beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("these tests make an account and grant as root: run them as root (.ci/run does)");
  withHostLock(() => {
    if (spawnSync("getent", ["group", GROUP]).status !== 0) execFileSync("groupadd", [GROUP]);
    if (spawnSync("id", [USER]).status !== 0) execFileSync("useradd", ["-m", "-s", "/bin/sh", USER]);
  });
  // a root-only file (an ACL grant) and two logs of a group of their own (a group grant)
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(`${DIR}/logs`, { recursive: true });
  chmodSync(DIR, 0o755);
  writeFileSync(files[0], "root's\n");
  chmodSync(files[0], 0o600);
  for (const f of files.slice(1)) { writeFileSync(f, "log\n"); chmodSync(f, 0o640); }
  execFileSync("chown", ["-R", `root:${GROUP}`, `${DIR}/logs`]);
  chmodSync(`${DIR}/logs`, 0o750);
  const ev = run("trace-run", ["--", "cat", ...files]);
  expect(ev.status, ev.stderr).toBe(0);
  const plan = run("trace-grant", ["--user", USER, "--format", "sh"], ev.stdout);
  expect(plan.status, plan.stderr).toBe(0);
  script = `${tmp}/plan.sh`;
  writeFileSync(script, plan.stdout);
}, 900_000);
afterAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
  withHostLock(() => {
    spawnSync("userdel", ["-r", USER], { stdio: "ignore" });
    spawnSync("groupdel", [GROUP], { stdio: "ignore" });
  });
}, 900_000);

describe("sh plan.sh run -- COMMAND", () => {
  it("the job works as the user while it runs, and afterwards nothing of the grants is left", () => withHostLock(() => {
    const before = state();
    expect(before).not.toMatch(/user:\d+:/);
    // the job reads all three as the user, and says who it is and what it was given
    const r = sh(`sh ${script} run -- sh -c 'cat "$@"; id -un; id -nG; env | sort' job ${files.join(" ")}`);
    expect(r.status, r.stderr).toBe(0);
    const uid = sh(`id -u ${USER}`).stdout.trim();
    expect(r.stdout.split("\n").slice(0, 5)).toEqual(["root's", "log", "log", USER, expect.stringContaining(GROUP)]);
    // the environment of trace-run --user: reset, the user's own; none of the runner's
    const env = r.stdout.split("\n").slice(5).filter(Boolean).map((l) => l.split("=")[0]);
    expect(env.filter((k) => !["HOME", "SHELL", "USER", "LOGNAME", "PATH", "PWD", "TERM", "LANG"].includes(k) && !k.startsWith("LC_"))).toEqual([]);
    expect(r.stdout).toContain(`HOME=/home/${USER}\n`);
    // the script's own words are on stderr: stdout is the job's
    expect(r.stderr).toContain(`${files[0]}: removed user:${uid}:r--; its ACL is as before the grant`);
    expect(state()).toBe(before);
  }), 300_000);

  it("passes the arguments on exactly: no shell reads them again", () => withHostLock(() => {
    const before = state();
    const args = ["a b", "$(id)", "'", ";", "*", "x=y", "-n", ""];
    const r = spawnSync("sh", [script, "run", "--", "printf", "[%s]\\n", ...args], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(args.map((a) => `[${a}]\n`).join(""));
    expect(state()).toBe(before);
  }), 300_000);

  it("passes on the job's status, a death by signal as 128+N, and undoes every time", () => withHostLock(() => {
    const before = state();
    for (const [job, want] of [["exit 0", 0], ["exit 3", 3], ["kill -KILL $$", 137], ["kill -SEGV $$", 139]] as const) {
      // (a command started with & in sh ignores INT: the script is started as a terminal would start it)
      const r = sh(`env --default-signal=INT sh ${script} run -- sh -c '${job}'`);
      expect([job, r.status]).toEqual([job, want]);
      expect(state()).toBe(before);
    }
    // a command not there: env's 127; the grants are undone as well
    const none = sh(`sh ${script} run -- /nonexistent/job`);
    expect(none.status).toBe(127);
    expect(state()).toBe(before);
  }), 300_000);

  it("the script killed (TERM, INT, HUP) while the job runs: the job gets the signal, the grants are undone", () => withHostLock(() => {
    const before = state();
    for (const sig of ["TERM", "INT", "HUP"]) {
      const fifo = `${tmp}/ready-${sig}`;
      execFileSync("mkfifo", ["-m", "0666", fifo]);
      // the job says it holds the grant (it has read the secret), then waits; the signal comes only then
      // (a command started with & in sh ignores INT: the script is started as a terminal would start it)
      const r = sh(`env --default-signal=INT sh ${script} run -- sh -c 'cat ${files[0]} > /dev/null && echo ready > ${fifo}; exec sleep 600' & p=$!; ` +
        `read x < ${fifo}; [ "$x" = ready ] || exit 99; kill -s ${sig} $p; wait $p`);
      const n = { TERM: 15, INT: 2, HUP: 1 }[sig]!;
      expect([sig, r.status, r.stderr]).toEqual([sig, 128 + n, expect.stringContaining("removed user:")]);
      expect(state()).toBe(before);
    }
  }), 300_000);

  it("does not run the job when a grant cannot be applied, and takes back what was", () => withHostLock(() => {
    const acl = () => sh(`getfacl -n -p -R -- ${DIR}; id -nG ${USER}`).stdout;
    const before = acl();
    // the secret replaced by a link of someone else's making: its step is refused
    rmSync(files[0]);
    execFileSync("ln", ["-s", "/etc/hostname", files[0]]);
    try {
      // (a command started with & in sh ignores INT: the script is started as a terminal would start it)
      const r = sh(`env --default-signal=INT sh ${script} run -- sh -c 'echo ran'`);
      expect(r.status).toBe(125);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("not every grant could be applied: the command is not run");
      expect(sh(`id -nG ${USER}`).stdout.split(/\s+/)).not.toContain(GROUP);
    } finally {
      rmSync(files[0]);
      writeFileSync(files[0], "root's\n");
      chmodSync(files[0], 0o600);
    }
    expect(acl()).toBe(before);
  }), 300_000);
});

describe("the systemd drop-in: file grants applied before every start, taken back after every stop", () => {
  const job = `${tmp}/job.sh`, out = "/tmp/lp-grants-run.out";
  const units = `${tmp}/units`, unit = "lp-grants-run.service";
  const lines = (d: string, key: string) => d.split("\n").filter((l) => l.startsWith(key + "=")).map((l) => l.slice(key.length + 1));
  /** An Exec line's words: ours are plain or double-quoted paths, without specifiers. */
  const argv = (v: string) => v.replace(/^\+/, "").split(" ").map((w) => w.replace(/^"(.*)"$/, "$1"));
  let d = "";
  beforeAll(() => {
    // the job reads the three files into an output in /tmp that outlives it, and uses a temporary it removes
    writeFileSync(job, `#!/bin/sh\nset -e\ncat ${files.join(" ")} > ${out}\nt=$(mktemp)\necho x > "$t"\nrm "$t"\n`);
    chmodSync(job, 0o755);
    const ev = run("trace-run", ["--", job]);
    expect(ev.status, ev.stderr).toBe(0);
    const r = run("trace-grant", ["--user", USER, "--format", "systemd", "--script", script], ev.stdout);
    expect(r.status, r.stderr).toBe(0);
    d = r.stdout;
    mkdirSync(`${units}/${unit}.d`, { recursive: true });
    writeFileSync(`${units}/${unit}`, `[Unit]\nDescription=leastpriv grant test\n[Service]\nType=oneshot\nExecStart=${job}\n`);
    writeFileSync(`${units}/${unit}.d/grant.conf`, d);
  }, 300_000);
  afterAll(() => rmSync(out, { force: true }));

  it("systemd-analyze verify accepts the unit with the drop-in", () => {
    const v = spawnSync("systemd-analyze", ["verify", `${units}/${unit}`], { encoding: "utf8", env: { ...process.env, SYSTEMD_UNIT_PATH: units + ":" } });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stderr).not.toMatch(/grant\.conf/);
    expect(lines(d, "ExecStartPre")).toEqual([`+/bin/sh ${script} start`]);
    expect(lines(d, "ExecStopPost")).toEqual([`+/bin/sh ${script} stop`]);
    expect(lines(d, "SupplementaryGroups")).toEqual([GROUP]);
    // the output in /tmp outlives the job: no private /tmp, and /tmp writable under ProtectSystem=strict
    expect(lines(d, "PrivateTmp")).toEqual(["no"]);
    expect(lines(d, "ReadWritePaths")[0].split(" ")).toContain("-/tmp");
  });

  it("its Exec lines, run in order as systemd would (Pre as root, the job as the user, Post as root), work and leave nothing", () => withHostLock(() => {
    const before = state();
    const gid = sh(`getent group ${GROUP} | cut -d: -f3`).stdout.trim();
    const asUser = () => spawnSync("setpriv", [`--reuid=${USER}`, `--regid=${sh(`id -g ${USER}`).stdout.trim()}`, `--groups=${gid}`,
      "--", ...argv(job)], { encoding: "utf8", env: { PATH: "/usr/bin:/bin", HOME: `/home/${USER}` } });
    for (const round of [1, 2]) {
      if (round === 2) {
        // between two starts root replaces the granted file (as useradd does /etc/shadow): a new inode, no grant
        execFileSync("sh", ["-c", `cp -p ${files[0]} ${files[0]}.new && mv ${files[0]}.new ${files[0]}`]);
      }
      rmSync(out, { force: true });                   // the job makes its output anew
      for (const l of lines(d, "ExecStartPre")) {
        const r = spawnSync(argv(l)[0], argv(l).slice(1), { encoding: "utf8" });
        expect([round, r.status, r.stderr]).toEqual([round, 0, expect.not.stringMatching(/refused/)]);
      }
      expect(sh(`id -nG ${USER}`).stdout.split(/\s+/)).not.toContain(GROUP);    // the unit's group, not a membership
      const j = asUser();
      expect([round, j.status, j.stderr]).toEqual([round, 0, ""]);
      expect(sh(`cat ${out}`).stdout).toBe("root's\nlog\nlog\n");
      for (const l of lines(d, "ExecStopPost")) {
        const r = spawnSync(argv(l)[0], argv(l).slice(1), { encoding: "utf8" });
        expect([round, r.status, r.stderr]).toEqual([round, 0, ""]);
        expect(r.stdout).toContain(`${files[0]}: removed user:`);
      }
      expect(asUser().status).not.toBe(0);               // stopped: the grant is gone
      if (round === 1) expect(state()).toBe(before);
      else expect(sh(`getfacl -n -p -R -- ${DIR}`).stdout).toBe(before.slice(0, before.indexOf(`${DIR} 0 0 755`)));
    }
  }), 300_000);

  it("a job whose writes under /tmp it removes itself gets a private /tmp", () => {
    const ev = run("trace-run", ["--", "sh", "-c", `t=$(mktemp); cat ${files[0]} > "$t"; rm "$t"`]);
    expect(ev.status, ev.stderr).toBe(0);
    const r = run("trace-grant", ["--user", USER, "--format", "systemd", "--script", script], ev.stdout);
    expect(lines(r.stdout, "PrivateTmp")).toEqual(["yes"]);
    expect(lines(r.stdout, "ReadWritePaths")).toEqual([]);
  });
});

describe("the job's own output", () => {
  // a directory of another account's (not root's: write on root's directories is never applied), and /tmp
  const RES = "/home/lp-grants-results", mine = "/tmp/lp-grants-run.out2";
  afterAll(() => { rmSync(RES, { recursive: true, force: true }); rmSync(mine, { force: true }); });

  it("a file the traced run made is planned as its directory, and the job makes it anew as the user", () => withHostLock(() => {
    rmSync(RES, { recursive: true, force: true });
    mkdirSync(RES, { mode: 0o755 });
    execFileSync("chown", ["nobody", RES]);
    rmSync(mine, { force: true });
    const job = ["sh", "-c", `cat ${files[0]} > ${RES}/out; echo done > ${mine}`];
    const ev = run("trace-run", ["--", ...job]);
    expect(ev.status, ev.stderr).toBe(0);
    const [plan, ...grants] = run("trace-grant", ["--user", USER], ev.stdout).records();
    expect(plan.outputs).toEqual([{ path: `${RES}/out`, dir: RES, allowed: "granted" }, { path: mine, dir: "/tmp", allowed: "already" }]);
    // no grant on either file the traced run left; write and search on the results directory instead
    expect(grants.filter((g: any) => g.path === `${RES}/out` || g.path === mine)).toEqual([]);
    expect(grants.filter((g: any) => g.path === RES).map((g: any) => [g.grant, g.perms, g.accesses])).toEqual([
      ["acl", "rwx", [`create ${RES}/out (output of the job, made anew by each run)`]],
    ]);
    const text = run("trace-grant", ["--user", USER, "--format", "text"], ev.stdout).stdout;
    expect(text).toContain(`  ${mine}: output of the job, made anew by each run: no grant on the file; ${USER} may already create it in /tmp.`);
    const p = `${tmp}/out-plan.sh`;
    writeFileSync(p, run("trace-grant", ["--user", USER, "--format", "sh"], ev.stdout).stdout);
    // the outputs are absent when the plan is applied: the job makes them, as the user
    rmSync(`${RES}/out`);
    rmSync(mine);
    const before = sh(`getfacl -n -p -- ${RES}; stat -c '%n %u %a' -- ${RES}`).stdout;
    const r = sh(`sh ${p} run -- ${job.slice(0, 2).join(" ")} '${job[2]}'`);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining(`${RES}: removed user:`)]);
    const uid = sh(`id -u ${USER}`).stdout.trim();
    expect(sh(`stat -c %u -- ${RES}/out ${mine}`).stdout).toBe(`${uid}\n${uid}\n`);
    expect(sh(`cat ${RES}/out`).stdout).toBe("root's\n");
    expect(sh(`getfacl -n -p -- ${RES}; stat -c '%n %u %a' -- ${RES}`).stdout).toBe(before);
  }), 300_000);
});

describe("whether each grant lasts, from facts of this host", () => {
  const shm = "/dev/shm/lp-grants-run", runf = "/run/lp-grants-run";
  const pkgFiles = ["/etc/issue.net", "/usr/share/base-files/dot.profile"];   // base-files: a conffile, a plain file
  afterAll(() => { rmSync(shm, { force: true }); rmSync(runf, { force: true }); });

  it("account files, package files, tmpfs and /run are said not to last, with the lasting way; a plain file lasts", () => withHostLock(() => {
    for (const f of [shm, runf]) { writeFileSync(f, "x\n"); chmodSync(f, 0o600); }
    const modes = pkgFiles.map((f) => sh(`stat -c %a ${f}`).stdout.trim());
    let events = "";
    try {
      // made root's for the trace only: the plan is on files the user is denied
      for (const f of pkgFiles) chmodSync(f, 0o600);
      const ev = run("trace-run", ["--", "cat", "/etc/shadow", ...pkgFiles, shm, runf, files[0]]);
      expect(ev.status, ev.stderr).toBe(0);
      events = ev.stdout;
      const grants = run("trace-grant", ["--user", USER], events).records().slice(1);
      const by = new Map(grants.map((g: any) => [g.path, g]));
      const lasts = (p: string) => [by.get(p)?.lasts, by.get(p)?.lostBy ?? null];
      expect(lasts(files[0])).toEqual([true, null]);
      expect(lasts("/etc/shadow")).toEqual([false, [expect.stringMatching(/^\/etc\/shadow is written anew by account tools \(useradd.*: the grant goes with the old file$/)]]);
      expect(lasts(pkgFiles[0])).toEqual([false, ["/etc/issue.net is a configuration file of base-files: an upgrade that changes it replaces it"]]);
      expect(lasts(pkgFiles[1])).toEqual([false, ["/usr/share/base-files/dot.profile belongs to base-files: an upgrade replaces it"]]);
      expect(lasts(shm)).toEqual([false, [`${shm} is on a tmpfs: gone at reboot`]]);
      expect(lasts(runf)).toEqual([false, [`${runf} is on /run: gone at reboot`]]);
      // the lasting ways: the file's own group where it already allows the read (and is no root-equivalent group)
      const [grp, mode] = sh("stat -c '%G %A' /etc/shadow").stdout.trim().split(" ");
      if (grp !== "root" && mode[4] === "r") expect(by.get("/etc/shadow").lasting).toMatch(new RegExp(`^group ${grp} \\(gid \\d+\\), the group the distribution gave the file, already has it on /etc/shadow: .*\\(usermod -a -G ${grp} ${USER}\\)$`));
      const uid = sh(`id -u ${USER}`).stdout.trim();
      expect(by.get(runf).lasting).toBe(`a systemd-tmpfiles line, applied at every boot: a+ ${runf} - - - - u:${uid}:r (in /etc/tmpfiles.d/)`);
      expect(by.get(shm).lasting).toMatch(/^grant it at every start: the drop-in's ExecStartPre=\+/);
      // said in the report, the script and the drop-in
      const text = run("trace-grant", ["--user", USER, "--format", "text"], events).stdout;
      expect(text).toContain(`      does not last: ${shm} is on a tmpfs: gone at reboot\n      lasting way: grant it at every start`);
      const script = run("trace-grant", ["--user", USER, "--format", "sh"], events).stdout;
      expect(script).toContain(`  # does not last: ${runf} is on /run: gone at reboot\n  # lasting way: a systemd-tmpfiles line`);
      const drop = run("trace-grant", ["--user", USER, "--format", "systemd"], events).stdout;
      expect(drop).toContain(`# does not last (acl ${pkgFiles[0]}): ${pkgFiles[0]} is a configuration file of base-files: an upgrade that changes it replaces it; granted again at every start\n`);
    } finally {
      pkgFiles.forEach((f, i) => chmodSync(f, parseInt(modes[i], 8)));
    }
  }), 300_000);
});
