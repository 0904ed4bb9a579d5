// Every failed write is an error: each tool's output to a full file system (a small tmpfs mounted
// here, filled so that the output is cut part-way or cannot start) and to /dev/full exits 2 (trace-run
// 125) with one stderr line naming the file; a trace-diff --update that does not fit leaves the
// baseline as it was and no temporary file beside it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { FIX, ROOT, run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/write-errors-");
const full = tmp + "/full";           // a 64 KiB tmpfs
const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "dumb", TZ: "UTC", LANG: "C" };

/** Empties the tmpfs, then fills it so that `free` bytes are left. */
function fill(free: number): void {
  for (const f of readdirSync(full)) rmSync(`${full}/${f}`, { force: true });
  const fd = openSync(`${full}/filler`, "w");
  const page = Buffer.alloc(4096, 120);
  let size = 0;
  try { for (;;) size += writeSync(fd, page); } catch (e) { expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC"); }
  ftruncateSync(fd, Math.max(0, size - free));
  closeSync(fd);
}

/** Runs a tool with its standard output on `out` (a file path). */
function toFile(cmd: string, args: string[], out: string) {
  const fd = openSync(out, "w");
  try {
    const r = spawnSync(process.execPath, [ROOT + "dist/commands/" + cmd + ".js", ...args], { cwd: ROOT, env: ENV, stdio: ["ignore", fd, "pipe"] });
    return { status: r.status, stderr: r.stderr.toString() };
  } finally { closeSync(fd); }
}

describe("failed writes", () => {
  let find = "";                  // a real trace whose profile, diff and report are tens of KiB
  let findAll = "";               // the same, every system call traced (for a seccomp policy)
  let events = "";                // the parsed pipeline fixture: hundreds of KiB of records
  beforeAll(() => {
    const r = run("trace-run", ["--", "find", "/usr/share/doc", "-maxdepth", "2"]);
    expect(r.status, r.stderr).toBe(0);
    writeFileSync(find = tmp + "/find.ndjson", r.stdout);
    const all = run("trace-run", ["--all-syscalls", "--", "find", "/usr/share/doc", "-maxdepth", "1"]);
    expect(all.status, all.stderr).toBe(0);
    writeFileSync(findAll = tmp + "/find-all.ndjson", all.stdout);
    writeFileSync(events = tmp + "/pipeline.ndjson", run("trace-parse", [FIX + "pipeline.strace"]).stdout);
    writeFileSync(tmp + "/empty.profile", "");
    mkdirSync(full);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", full]);
  }, 120_000);

  afterAll(() => {
    spawnSync("umount", [full]);
    rmSync(tmp, { recursive: true, force: true });
  });

  // [tool, arguments, whether its output is over 4 KiB (then cut part-way; else it cannot start)]
  const cases: [string, () => string[], boolean][] = [
    ["trace-parse", () => [FIX + "pipeline.strace"], true],
    ["trace-filter", () => [events], true],
    ["trace-filter", () => ["-c", events], false],
    ["trace-summarize", () => [find], true],
    ["trace-summarize", () => ["--format", "text", find], true],
    ["trace-summarize", () => ["--format", "verdict", find], false],
    ["trace-diff", () => [tmp + "/empty.profile", find], true],
    ["trace-diff", () => ["--format", "text", tmp + "/empty.profile", find], true],
    ["trace-policy", () => ["--format", "apparmor", find], true],
    ["trace-policy", () => ["--format", "seccomp", findAll], false],
    ["trace-policy", () => ["--format", "systemd", find], false],
    ["trace-grant", () => ["--user", "nobody", "--format", "sh", find], true],     // the plan, with its guards and check verb, is over 4 KiB
    ["trace-grant", () => ["--user", "nobody", "--format", "ndjson", find], false],
    // the command's own output goes elsewhere: trace-run's stderr then holds only its own lines
    ["trace-run", () => ["--", "sh", "-c", "exec find /usr/share/doc -maxdepth 2 >/dev/null 2>&1"], true],
  ];

  for (const [tool, args, big] of cases) {
    it(`${tool} ${args().slice(0, 2).join(" ").replace(tmp, "")}…: a full disk and /dev/full are errors naming the file`, () => {
      const code = tool === "trace-run" ? 125 : 2;
      // the same command to a file that holds all of its output succeeds: what fails below is the write
      const ok = toFile(tool, args(), tmp + "/whole.out");
      expect(ok.status === 0 || (tool === "trace-diff" && ok.status === 1), ok.stderr).toBe(true);
      expect(statSync(tmp + "/whole.out").size > 4096).toBe(big);

      fill(big ? 4096 : 0);
      const out = `${full}/out`;
      const r = toFile(tool, args(), out);
      expect(r.stderr).toBe(`${tool}: ${out} (standard output): No space left on device\n`);
      expect(r.status).toBe(code);
      const d = toFile(tool, args(), "/dev/full");
      expect(d.stderr).toBe(`${tool}: /dev/full (standard output): No space left on device\n`);
      expect(d.status).toBe(code);
    }, 60_000);
  }

  it("trace-diff --update on a full disk: exit 2, the baseline as it was, no temporary left", () => {
    fill(0);
    rmSync(`${full}/filler`);
    const base = `${full}/app.profile`;
    const small = run("trace-run", ["--", "cat", "/etc/hostname"]);
    writeFileSync(base, run("trace-summarize", [], small.stdout).stdout);
    const before = readFileSync(base, "utf8");
    // what is left is less than the merged baseline needs
    const fd = openSync(`${full}/filler`, "w");
    try { for (;;) writeSync(fd, Buffer.alloc(4096)); } catch { /* full */ }
    ftruncateSync(fd, statSync(`${full}/filler`).size - 8192);
    closeSync(fd);
    const r = run("trace-diff", ["--update", base, find]);
    expect(r.stderr).toBe(`trace-diff: ${base}: No space left on device\n`);
    expect(r.status).toBe(2);
    expect(readFileSync(base, "utf8")).toBe(before);
    expect(readdirSync(full).sort()).toEqual(["app.profile", "filler"]);
  });

  it("a directory for a file: one readable line", () => {
    for (const [tool, args] of [["trace-summarize", [tmp]], ["trace-diff", [tmp, find]], ["trace-diff", ["--update", tmp, find]],
      ["trace-policy", ["--format", "seccomp", tmp]], ["trace-grant", ["--user", "nobody", tmp]], ["trace-filter", [tmp]], ["trace-parse", [tmp]]] as const) {
      const r = run(tool, [...args]);
      expect(r.stderr, `${tool} ${args.join(" ")}`).toBe(`${tool}: ${tmp}: Is a directory\n`);
      expect(r.status).toBe(2);
    }
  });
});
