// Every command's man page is generated from its source, up to date, and documents every option --help lists.
import { describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { ROOT, run } from "../helpers.js";

const commands = readdirSync(ROOT + "commands").filter((f) => /^trace-.*\.ts$/.test(f)).map((f) => f.slice(0, -3));

describe("man pages", () => {
  it("the roff pages are generated from the current sources", () => {
    const r = spawnSync(process.execPath, [ROOT + "man/build.mjs", "--check"]);
    expect(r.stderr.toString()).toBe("");
    expect(r.status).toBe(0);
  });
  it("package.json ships a page for every command and the record format", () => {
    const pkg = JSON.parse(readFileSync(ROOT + "package.json", "utf8"));
    for (const c of commands) {
      expect(pkg.man).toContain(`man/${c}.1`);
      expect(pkg.bin[c]).toBe(`dist/commands/${c}.js`);
    }
    expect(pkg.man).toContain("man/trace-records.5");
  });
  for (const c of commands) {
    it(`${c}: every option in --help is in the man page, which man(1) renders`, () => {
      const help = run(c, ["--help"]).stdout;
      const opts = [...help.matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);
      expect(opts.length).toBeGreaterThan(2);
      const page = execFileSync("man", ["-l", ROOT + `man/${c}.1`], { env: { ...process.env, MANWIDTH: "200", MAN_KEEP_FORMATTING: "" } }).toString().replace(/\u2010/g, "-");
      for (const o of opts) expect(page, `${o} in man/${c}.1`).toContain(o);
      for (const s of ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "ENVIRONMENT", "EXAMPLES", "SEE ALSO"]) expect(page).toContain(s);
    });
  }
});
