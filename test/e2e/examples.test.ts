// Every EXAMPLES command of every man page, run as written in bash, in order, in a scratch directory
// that holds the files the examples name (./app, ./tool, a Makefile, earlier runs' records). A few
// names are mapped onto the scratch directory (the user, /etc/apparmor.d, /etc/systemd/system), and the
// few that cannot run here are listed with the reason. Each must exit 0 with no error from a trace-* tool.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { FIX, ROOT, withHostLock } from "../helpers.js";

const USER = "lp-examples";
const dir = mkdtempSync(tmpdir() + "/examples-");
chmodSync(dir, 0o755);

/** Lines that cannot run on a test machine, and why. */
const CANNOT: [RegExp, string][] = [
  [/pidof sshd/, "attaches to a running sshd until ^C: there is none here, and it would not end"],
  [/apparmor_parser -r/, "loads the profile into the running kernel: a change to the host the test does not make"],
];
/** Names in the examples that stand for the reader's own: mapped onto the scratch directory. */
const MAP: [RegExp, string][] = [
  [/--user auditor\b/g, `--user ${USER}`],
  [/\/etc\/apparmor\.d\//g, "apparmor.d/"],
  [/\/etc\/systemd\/system\//g, "systemd/"],
];
/** What must be in place just before a line (a file git knows about, before committing it). */
const BEFORE: [RegExp, string][] = [
  [/git commit/, "git add app.profile"],
];

function examples(page: string): string[] {
  const text = readFileSync(`${ROOT}man/${page}`, "utf8");
  const m = /^## EXAMPLES\n([\s\S]*?)(?=^## )/m.exec(text);
  return m ? m[1].split("\n").filter((l) => l.startsWith("    ")).map((l) => l.trim()) : [];
}

const sh = (cmd: string) => execFileSync("bash", ["-c", cmd], { cwd: dir, stdio: "pipe" });

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("the examples trace as other users and use docker: run the tests as root (.ci/run does)");
  const info = spawnSync("docker", ["info"]);
  if (info.status !== 0) throw new Error("the examples use a running Docker daemon (.ci/run starts one)");
  execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
  execFileSync("docker", ["tag", "leastpriv-test:1", "app:1"]);               // the examples' image
  // useradd and userdel rewrite /etc/shadow (a new inode): not while a test plans and applies on it
  if (spawnSync("id", [USER]).status !== 0) withHostLock(() => execFileSync("useradd", ["-m", "-s", "/bin/sh", USER]));

  // the commands, as installed: trace-x on PATH
  mkdirSync(`${dir}/bin`);
  for (const f of readdirSync(ROOT + "commands").filter((x) => /^trace-.*\.ts$/.test(x))) {
    const c = f.replace(/\.ts$/, "");
    writeFileSync(`${dir}/bin/${c}`, `#!/bin/sh\nexec ${process.execPath} ${ROOT}dist/commands/${c}.js "$@"\n`);
    chmodSync(`${dir}/bin/${c}`, 0o755);
  }
  // the programs and files the examples name
  const script = (name: string, body: string) => { writeFileSync(`${dir}/${name}`, `#!/bin/sh\n${body}\n`); chmodSync(`${dir}/${name}`, 0o755); };
  script("app", "cat /etc/hostname > /dev/null; ls /etc > /dev/null");
  script("tool", "cat /etc/hostname > /dev/null; echo scanned > /tmp/lp-example-tool.out");
  script("install.sh", "mkdir -p installed && cp /etc/hostname installed/");
  script("configure", "echo 'configured' > config.log");
  writeFileSync(`${dir}/Makefile`, "all:\n\tcat /etc/hostname > built.txt\n");
  writeFileSync(`${dir}/app.allow`, "# nothing allowed beyond the baseline\n");
  copyFileSync(FIX + "attach.strace", `${dir}/attach.log`);
  mkdirSync(`${dir}/apparmor.d`);
  mkdirSync(`${dir}/systemd/tool.service.d`, { recursive: true });
  mkdirSync(`${dir}/systemd/lynis.service.d`, { recursive: true });
  writeFileSync(`${dir}/systemd/tool.service`, `[Unit]\nDescription=the examples' tool\n[Service]\nExecStart=${dir}/tool --scan\n`);
  const env = `PATH=${dir}/bin:$PATH`;
  sh(`${env}; trace-run -- ./app > run.ndjson; trace-run --all-syscalls -- ./app > run1.ndjson; trace-run --all-syscalls -- ./app > run2.ndjson; ` +
    "trace-summarize run1.ndjson > monday.profile; trace-summarize run2.ndjson > tuesday.profile");
  sh("git init -q . && git config user.email examples@leastpriv.test && git config user.name examples");
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync("/tmp/lp-example-tool.out", { force: true });
  spawnSync("docker", ["rmi", "app:1"], { stdio: "ignore" });
  withHostLock(() => spawnSync("userdel", ["-r", USER], { stdio: "ignore" }));
}, 900_000);

const pages = readdirSync(ROOT + "man").filter((f) => f.endsWith(".md"));

describe("man page EXAMPLES, run as written", () => {
  it("every command page has examples to run", () => {
    for (const c of readdirSync(ROOT + "commands").filter((x) => /^trace-.*\.ts$/.test(x))) expect(examples(c.replace(/\.ts$/, ".md")).length, c).toBeGreaterThan(1);
  });
  for (const page of pages) {
    const lines = examples(page);
    if (!lines.length) continue;
    // a page whose examples grant (trace-grant's) holds the host lock, as the grant tests do
    it(`${page}: ${lines.length} commands`, () => (/sh grants\.sh/.test(lines.join("\n")) ? withHostLock : (f: () => void) => f())(() => {
      for (const line of lines) {
        const cannot = CANNOT.find(([re]) => re.test(line));
        if (cannot) continue;                                  // listed above, with the reason
        let cmd = line;
        for (const [re, to] of MAP) cmd = cmd.replace(re, to);
        const before = BEFORE.find(([re]) => re.test(line));
        if (before) sh(before[1]);
        const r = spawnSync("bash", ["-c", cmd], {
          cwd: dir, encoding: "utf8", timeout: 240_000,
          env: { PATH: `${dir}/bin:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: "/root", LANG: "C", TERM: "dumb", SYSTEMD_UNIT_PATH: `${dir}/systemd:` },
        });
        expect(r.status, `${page}: ${line}\n${r.stderr}`).toBe(0);
        expect(r.stderr, `${page}: ${line}`).not.toMatch(/^trace-[a-z]+: /m);
      }
    }), 900_000);
  }
  it("the lines that cannot run here are few, and each is in a page", () => {
    const all = pages.flatMap(examples);
    for (const [re] of CANNOT) expect(all.some((l) => re.test(l)), String(re)).toBe(true);
    expect(all.filter((l) => CANNOT.some(([re]) => re.test(l)))).toHaveLength(CANNOT.length);
  });
});
