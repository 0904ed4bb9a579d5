// The package as a user installs it: npm pack, npm install -g into a temporary prefix, every
// executable on PATH and every man page found by man(1).
import { describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT } from "../helpers.js";

describe("npm pack | npm install -g", () => {
  it("installs every executable and man page", () => {
    const tmp = mkdtempSync(tmpdir() + "/leastpriv-pack-");
    const tgz = execFileSync("npm", ["pack", "--silent", "--pack-destination", tmp], { cwd: ROOT, encoding: "utf8" }).trim().split("\n").at(-1)!;
    const prefix = tmp + "/prefix";
    execFileSync("npm", ["install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", tmp + "/" + tgz], { cwd: tmp, stdio: "pipe" });
    const pkg = JSON.parse(readFileSync(ROOT + "package.json", "utf8"));
    const env = { PATH: `${prefix}/bin:/usr/bin:/bin`, MANPATH: `${prefix}/share/man`, HOME: tmp };
    expect(readdirSync(prefix + "/bin").sort()).toEqual(Object.keys(pkg.bin).sort());
    // the bpftrace program ships, readable and runnable by hand
    expect(readFileSync(prefix + "/lib/node_modules/leastpriv/bpf/leastpriv.bt", "utf8")).toMatch(/^\/\/ leastpriv's bpftrace program/);
    for (const cmd of Object.keys(pkg.bin)) {
      const v = spawnSync(cmd, ["--version"], { env, encoding: "utf8" });
      expect(v.stdout.trim(), cmd).toBe(pkg.version);
      const m = spawnSync("man", ["-w", cmd], { env, encoding: "utf8" });
      expect(m.stdout.trim(), `man ${cmd}`).toMatch(new RegExp(`/${cmd}\\.1$`));
    }
    expect(spawnSync("man", ["-w", "5", "trace-records"], { env, encoding: "utf8" }).stdout.trim()).toMatch(/trace-records\.5$/);
    expect(spawnSync("man", ["-w", "7", "leastpriv"], { env, encoding: "utf8" }).stdout.trim()).toMatch(/leastpriv\.7$/);
    // bash completion: the script each tool prints completes its options
    const comp = spawnSync("bash", ["-c",
      'eval "$(trace-filter completion)"; COMP_WORDS=(trace-filter --fil); COMP_CWORD=1; _trace-filter_yargs_completions; echo "${COMPREPLY[@]}"'],
    { env, encoding: "utf8" });
    expect(comp.stdout.trim()).toBe("--files");
    const runComp = spawnSync("bash", ["-c",
      'eval "$(trace-run completion)"; COMP_WORDS=(trace-run --all); COMP_CWORD=1; _trace-run_yargs_completions; echo "${COMPREPLY[@]}"'],
    { env, encoding: "utf8" });
    expect(runComp.stdout.trim()).toBe("--all-syscalls");
    // the installed trace-sandbox finds its enforcer: a ruleset that handles only mkdir refuses one
    writeFileSync(tmp + "/nomkdir.json", JSON.stringify({ abi: 1, ruleset: [{ handledAccessFs: ["make_dir"] }] }));
    expect(spawnSync("trace-sandbox", [tmp + "/nomkdir.json", "--", "true"], { env, encoding: "utf8" }).status).toBe(0);
    const md = spawnSync("trace-sandbox", [tmp + "/nomkdir.json", "--", "mkdir", tmp + "/made"], { env, encoding: "utf8" });
    expect([md.status, md.stderr]).toEqual([1, `mkdir: cannot create directory '${tmp}/made': Permission denied\n`]);
    // the installed tools work together
    const out = spawnSync("sh", ["-c", `trace-parse ${ROOT}test/fixtures/strace/single.strace | trace-filter --files -c`], { env, encoding: "utf8" });
    expect(Number(out.stdout)).toBeGreaterThan(10);
  }, 120000);
});
