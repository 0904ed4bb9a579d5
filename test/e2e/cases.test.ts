// Golden cases, kept as miller keeps them: test/cases/<tool>/<n>/ holds `cmd` (run by sh from the
// repository's root) and the expected `out`, `err` and `status`. UPDATE_CASES=1 (npm run cases:update)
// writes what the tools print now instead of comparing: review the diff before committing it.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT } from "../helpers.js";

const CASES = ROOT + "test/cases/";
const update = process.env.UPDATE_CASES === "1";

/** Every case folder, as "tool/n", in order (numbers numerically). */
export function caseNames(): string[] {
  const names: string[] = [];
  for (const tool of readdirSync(CASES).sort()) {
    if (tool === "bin" || !statSync(CASES + tool).isDirectory()) continue;
    const ns = readdirSync(CASES + tool).filter((n) => existsSync(`${CASES}${tool}/${n}/cmd`));
    for (const n of ns.sort((a, b) => Number(a) - Number(b) || a.localeCompare(b))) names.push(`${tool}/${n}`);
  }
  return names;
}

/**
 * Runs one case's cmd with a fixed environment: the tools on PATH (test/cases/bin), no terminal, UTC,
 * the C locale, no colour, stdin from /dev/null, and WORK a scratch directory of its own.
 */
function runCase(name: string) {
  const work = mkdtempSync(tmpdir() + "/leastpriv-case-");
  try {
    const r = spawnSync("sh", [`test/cases/${name}/cmd`], {
      cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 28,
      env: { PATH: `${CASES}bin:${process.env.PATH ?? "/usr/bin:/bin"}`, TERM: "dumb", TZ: "UTC", LANG: "C", LC_ALL: "C", NO_COLOR: "1", HOME: work, WORK: work, CASE: `test/cases/${name}` },
    });
    if (r.error) throw r.error;
    return { out: r.stdout, err: r.stderr, status: `${r.status ?? "signal " + r.signal}\n` };
  } finally { rmSync(work, { recursive: true, force: true }); }
}

const names = caseNames();

describe("golden cases (test/cases)", () => {
  it("there are cases for every tool that reads traces", () => {
    const tools = new Set(names.map((n) => n.split("/")[0]));
    expect([...tools].sort()).toEqual(["trace-diff", "trace-filter", "trace-grant", "trace-parse", "trace-policy", "trace-summarize"]);
    expect(names.length).toBeGreaterThanOrEqual(20);
  });

  for (const name of names) {
    it(name, () => {
      const dir = `${CASES}${name}/`;
      const got = runCase(name);
      if (update) {
        writeFileSync(dir + "out", got.out); writeFileSync(dir + "err", got.err); writeFileSync(dir + "status", got.status);
        return;
      }
      // stderr and status first: when a case fails, why is usually there
      expect(got.err.toString("latin1"), `${name}/err`).toBe(readFileSync(dir + "err", "latin1"));
      expect(got.status, `${name}/status`).toBe(readFileSync(dir + "status", "utf8"));
      expect(got.out.toString("latin1"), `${name}/out`).toBe(readFileSync(dir + "out", "latin1"));
    });
  }
});
