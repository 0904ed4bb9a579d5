// "No generator writes a traced string any other way" as checks: the type checker refuses every way
// around lib/render.ts we know of, and the generators' sources use its tags only as tags.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { ROOT } from "../helpers.js";

const GENERATORS = ["grant/format.ts", "policy/systemd.ts", "policy/apparmor.ts", "profile/report.ts", "profile/diff.ts", "policy/landlock.ts"];
const TAGS = ["txt", "shLine", "shNote", "unitLine", "unitNote", "aaLine", "aaNote"];

// each line below is a way a traced string could get into output without being rendered
const MISUSES = [
  "document([name]);",                                   // a plain string as a line
  "document<\"sh\">([txt`${name}`]);",                   // text rendered for the terminal as sh code
  "document<\"apparmor\">([unitLine`${name}`]);",         // one target's line in another's file
  "new Rendered(Symbol(\"render\"), \"sh\", name);",     // a Rendered made outside render.ts
  "join([name], \" \", \"text\");",                      // a string joined in
  "join([txt`${name}`], name, \"text\");",                // a traced separator
  "shLine`${{ text: name }}`;",                           // something that only looks rendered
  "aaLine`${[name]}`;",                                   // a pattern must go through aaPath
];

function typecheck(probe: string): { status: number | null; out: string } {
  const id = `render-probe-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const file = `${ROOT}test/unit/${id}.ts`, config = `${ROOT}test/unit/${id}.json`;
  writeFileSync(file, probe);
  writeFileSync(config, JSON.stringify({ extends: "../../tsconfig.json", compilerOptions: { noEmit: true, rootDir: "../.." }, include: [], files: [`${id}.ts`] }));
  try {
    const r = spawnSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, "-p", config], { encoding: "utf8", cwd: ROOT });
    return { status: r.status, out: r.stdout + r.stderr };
  } finally { rmSync(file, { force: true }); rmSync(config, { force: true }); }
}

describe("lib/render.ts is the only way in", () => {
  const head = `import { document, join, shLine, txt, unitLine, aaLine, Rendered } from "../../lib/render.js";\nconst name: string = String(process.argv[2]);\n`;
  it("the type checker refuses each misuse", () => {
    const expected = typecheck(head + MISUSES.map((m) => `// @ts-expect-error\n${m}\n`).join(""));
    expect(expected.out).toBe("");
    expect(expected.status).toBe(0);
    // and without the expectations, every one of them is an error (so the probe itself can fail)
    const bare = typecheck(head + MISUSES.join("\n") + "\n");
    expect(bare.status).not.toBe(0);
    expect(bare.out.match(/error TS\d+/g)?.length).toBe(MISUSES.length);
  }, 60_000);

  it("the generators use the tags only as tags, and write nothing themselves", () => {
    const sources = (readdirSync(ROOT + "lib", { recursive: true }) as string[]).filter((x) => x.endsWith(".ts") && x !== "render.ts");
    expect(sources).toEqual(expect.arrayContaining(GENERATORS));
    for (const f of sources) {
      const src = readFileSync(ROOT + "lib/" + f, "utf8");
      for (const t of TAGS) {
        for (const m of src.matchAll(new RegExp(`\\b${t}\\b(.)`, "g"))) {
          // an import list, or a tagged template: nothing else (no call with a forged array, no alias)
          const imported = /import \{[^}]*$/.test(src.slice(0, m.index));
          expect(imported || m[1] === "`", `${f}: ${t} used other than as a tag`).toBe(true);
        }
      }
      expect(src, f).not.toMatch(/new Rendered\b/);
      if (f !== "grant/format.ts") expect(src, f).not.toMatch(/\bshCommand\b/);
      if (GENERATORS.includes(f)) {
        expect(src, f).not.toMatch(/process\.std(out|err)/);
        expect(src, f).not.toMatch(/\.join\("\\n"\)/);                // lines are joined by document() or joinLines() only
      }
    }
  });
});
