// lib/render.ts: each target's rendering of any name keeps the name exact and lets nothing out.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import fc from "fast-check";
import { decodeBytes, encodeBytes } from "../../lib/io/bytes.js";
import { aaPath, escapeText, shLine, shNote, shWord, txt, unitNote, unitWord } from "../../lib/render.js";

// names as the kernel holds them: any byte but NUL (and "/" inside a component), decoded as the tools carry them
const nameBytes = fc.uint8Array({ minLength: 1, maxLength: 24 }).map((b) => b.map((x) => (x === 0 ? 1 : x)));
const names = nameBytes.map((b) => decodeBytes(b));
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\x00-\x1f\x7f-\x9f\udc80-\udcff]/u;      // u: a lone surrogate only, not half of a pair

describe("terminal text", () => {
  it("shows control bytes, DEL, C1 and raw bytes escaped, as strace does", () => {
    expect(escapeText("esc\x1b[2J\x1b[31mRED")).toBe("esc\\33[2J\\33[31mRED");
    expect(escapeText("a\nb\tc\\d")).toBe("a\\nb\\tc\\\\d");
    expect(escapeText("\x01" + "7")).toBe("\\0017");                 // a digit after it: three digits
    expect(escapeText("x\x7f")).toBe("x\\177");
    expect(escapeText(decodeBytes(Buffer.from([0x66, 0xff, 0xc3])))).toBe("f\\xff\\xc3");
    expect(escapeText("\u009b31m")).toBe("\\xc2\\x9b31m");
    expect(escapeText("evil\u202egnp.exe")).toBe("evil\\u202egnp.exe");
    expect(escapeText("grüße /etc/ß 😀")).toBe("grüße /etc/ß 😀");
  });
  it("no raw control byte survives, and different names stay different", () => {
    fc.assert(fc.property(names, names, (a, b) => {
      expect(escapeText(a)).not.toMatch(RAW_CONTROL);
      if (a !== b) expect(escapeText(a)).not.toBe(escapeText(b));
    }), { numRuns: 2000 });
  });
  it("the txt tag escapes what is put in, never its own text", () => {
    expect(txt`read ${"a\nb"} (${3} calls)\n`.text).toBe("read a\\nb (3 calls)\n");
    expect(txt`${txt`${"\x1b"}`}`.text).toBe("\\33");              // rendered once, not twice
  });
});

describe("sh", () => {
  it("a quoted word is the exact bytes, and nothing in it runs", () => {
    const words = fc.sample(names, 300);
    const script = words.map((w) => shLine`printf '%s\\0' ${w}`.text).join("\n") + "\n";
    const file = mkdtempSync(tmpdir() + "/render-") + "/words.sh";
    writeFileSync(file, encodeBytes(script));
    const r = spawnSync("sh", [file], { encoding: "buffer" });
    expect(r.status, r.stderr.toString()).toBe(0);
    const got = r.stdout.toString("latin1").split("\0").slice(0, -1).map((x) => decodeBytes(Buffer.from(x, "latin1")));
    expect(got).toEqual(words);
  });
  it("a comment is one line, whatever the name", () => {
    fc.assert(fc.property(names, (n) => {
      const c = shNote`acl ${n}: read ${n}`.text;
      expect(c.startsWith("# ")).toBe(true);
      expect(c).not.toMatch(RAW_CONTROL);
    }), { numRuns: 1000 });
    expect(shWord("it's")).toBe("'it'\\''s'");
  });
});

describe("systemd", () => {
  it("values are quoted with C escapes, % doubled, no newline", () => {
    expect(unitWord("/srv/a b", "-").text).toBe('"-/srv/a b"');
    expect(unitWord("/srv/%h\nUser=root").text).toBe('"/srv/%%h\\x0aUser=root"');
    expect(unitWord("/plain/path", "-").text).toBe("-/plain/path");
    expect(unitWord(decodeBytes(Buffer.from([0x2f, 0xff]))).text).toBe('"/\\xff"');
    fc.assert(fc.property(names, (n) => {
      expect(unitWord(n).text).not.toMatch(RAW_CONTROL);
      expect(unitNote`${n}`.text).not.toMatch(RAW_CONTROL);
    }), { numRuns: 1000 });
  });
});

describe("AppArmor", () => {
  it("every glob character of a real name is escaped; only tool-made parts are globs", () => {
    expect(aaPath("/srv/app/**").text).toBe('"/srv/app/\\*\\*"');
    expect(aaPath("/etc/<tmp>").text).toBe('"/etc/<tmp>"');
    expect(aaPath("/x/@{pid}[a]{b,c}?^\"\\").text).toBe('"/x/\\@\\{pid\\}\\[a\\]\\{b,c\\}\\?\\^\\"\\134"');
    expect(aaPath(["/srv/app/", { glob: "**" }]).text).toBe("/srv/app/**");
    expect(aaPath(["/proc/", { glob: "pid" }, "/fd/", { glob: "fd" }]).text).toBe("/proc/@{pid}/fd/[0-9]*");
    expect(aaPath(["/tmp/a b.", { glob: "tmp" }]).text).toBe('"/tmp/a b.*"');
    expect(aaPath("/a\n  /** rwlkix,").text).toBe('"/a\\012  /\\*\\* rwlkix,"');
  });

  // apparmor_parser's lexer read `\\"` as an escaped quote when another quote came later in the file:
  // a name ending in a backslash ran its rule on into the next one (found by the names property test)
  it("a backslash never joins a rule to the next: apparmor_parser reads each name as itself", () => {
    const dir = mkdtempSync(`${tmpdir()}/aa-render-`);
    const parse = (names: string[]) => {
      writeFileSync(`${dir}/p`, `abi <abi/3.0>,\nprofile p {\n${names.map((n) => `  ${aaPath(n).text} rw,`).join("\n")}\n}\n`);
      const r = spawnSync("apparmor_parser", ["-Q", "-K", "-D", "rule-exprs", `${dir}/p`], { encoding: "latin1" });
      return { status: r.status, err: r.stderr, rules: [...(r.stdout + r.stderr).matchAll(/^rule: .* {2}-> {2}(.*) \(0x/gm)].map((m) => m[1]) };
    };
    const two = parse(["/d/x\\", '/d/\\"y "']);
    expect(two.status, two.err).toBe(0);
    expect(two.rules.sort()).toEqual(['/d/\\"y\\ "', "/d/x\\"]);   // the parser's dump: a space shown as "\\ "
    // and any mix of backslashes, quotes and glob characters, 300 names to a profile
    const piece = fc.constantFrom("\\", '"', "\\\"", "*", "{a,b}", " ", "\t", "x", "\xe9");
    const name = fc.array(piece, { minLength: 1, maxLength: 6 }).map((xs) => "/d/" + xs.join(""));
    for (let round = 0; round < 3; round++) {
      const names = fc.sample(name, 300);
      const r = parse(names);
      expect(r.status, r.err).toBe(0);
      expect(r.rules.length).toBe(new Set(names).size);   // one rule per name (the parser merges repeats)
    }
  });
});
