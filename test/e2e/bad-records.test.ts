// Hostile and malformed input: a line nested 5,000 deep (in a real strace log, and in a record's
// values), and records of the wrong shape. Each is an `unparsed` record or an error naming FILE:LINE;
// reading goes on with the next line; no tool computes on such a record.
import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { FIX, ROOT, run } from "../helpers.js";
import { invalid, MAX_DEPTH } from "../../lib/io/validate.js";
import { MAX_NESTING, parseArgs } from "../../lib/strace/values.js";

const tmp = mkdtempSync(tmpdir() + "/bad-records-");
const DEEP = "[".repeat(5000) + "]".repeat(5000);

describe("nesting without bounds", () => {

  it("the grammar: 5,000 nested lists are refused without recursing; strace's own nesting is taken", () => {
    const r = parseArgs(DEEP + ")", 0);
    expect(r.tooDeep).toBe(true);
    // the argument list is the first level
    const ok = parseArgs("[".repeat(MAX_NESTING - 1) + "1" + "]".repeat(MAX_NESTING - 1) + ") = 0", 0);
    expect(ok.tooDeep).toBe(false);
    expect(JSON.stringify(ok.args)).toBe("[".repeat(MAX_NESTING) + "1" + "]".repeat(MAX_NESTING));
    expect(parseArgs("[".repeat(MAX_NESTING) + "1" + "]".repeat(MAX_NESTING) + ") = 0", 0).tooDeep).toBe(true);
  });

  it("trace-parse: a real log with one line nested 5,000 deep: that line unparsed at FILE:LINE, every other line as before", () => {
    // hostile input: the first execve of a real capture, its argv wrapped in 5,000 lists
    const lines = readFileSync(FIX + "pipeline.strace", "utf8").split("\n");
    const at = lines.findIndex((l) => l.includes("execve("));
    const bad = lines[at].replace("[", DEEP + ", [");
    const f = tmp + "/deep.strace";
    writeFileSync(f, [...lines.slice(0, at + 1), bad, ...lines.slice(at + 1)].join("\n"));
    const r = run("trace-parse", [f]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`trace-parse: ${f}: 1 line not understood\n`);
    const recs = r.records();
    expect(recs.filter((x) => x.type === "unparsed")).toEqual([
      { type: "unparsed", file: f, line: at + 2, text: bad, reason: `values nested deeper than ${MAX_NESTING} levels` },
    ]);
    const orig = run("trace-parse", [FIX + "pipeline.strace"]).records();
    expect(recs.filter((x) => x.type !== "unparsed").slice(1, -1)).toEqual(orig.slice(1, -1));
    expect(run("trace-parse", ["--strict", f]).stderr).toMatch(new RegExp(`^trace-parse: ${f}:${at + 2}: values nested deeper than ${MAX_NESTING} levels: `));
  });
});

describe("records validated at reading", () => {
  let good: string[] = [];
  const file = (name: string, lines: string[]) => { const f = `${tmp}/${name}.ndjson`; writeFileSync(f, lines.join("\n") + "\n"); return f; };
  beforeAll(() => {
    const r = run("trace-run", ["--", "cat", "/etc/hostname"]);
    expect(r.status, r.stderr).toBe(0);
    good = r.stdout.trim().split("\n");
  }, 60_000);

  // a real open record of the run, with one field made wrong
  const openOf = () => JSON.parse(good.find((l) => /"syscall":"openat".*"\/etc\/hostname"/.test(l))!);
  // each: the line that stands in for it
  const variants: [string, (r: Record<string, unknown>) => string, RegExp][] = [
    ["a number for a path", (r) => JSON.stringify({ ...r, path: 5 }), /"path" is a number, not a string/],
    ["no syscall", (r) => JSON.stringify({ ...r, syscall: undefined }), /a syscall record without "syscall"/],
    ["a path nested 5,000 deep", (r) => JSON.stringify(r).replace('"path":"/etc/hostname"', `"path":${DEEP}`), /"path" is a list, not a string/],
    ["args nested 5,000 deep", (r) => JSON.stringify({ ...r, args: [] }).replace('"args":[]', `"args":[${DEEP}]`), /values nested deeper than 64 levels/],
    ["a string for ok", (r) => JSON.stringify({ ...r, ok: "yes" }), /"ok" is a string, not true, false or null/],
    ["an address without a family", (r) => JSON.stringify({ ...r, addr: { ip: "1.2.3.4", port: 53 } }), /"addr" is an object, not an address \(an object with a family\)/],
  ];

  for (const [what, mutate, why] of variants) {
    it(`${what}: every reader names FILE:LINE and exits 2, computing nothing on it`, () => {
      const text = mutate(openOf());
      const at = good.findIndex((l) => /"syscall":"openat".*"\/etc\/hostname"/.test(l));
      const f = file(what.replace(/\W+/g, "-"), [...good.slice(0, at + 1), text, ...good.slice(at + 1)]);
      const line = `${f}:${at + 2}: `;
      const base = file("base", [run("trace-summarize", [], good.join("\n") + "\n").stdout.trim()]);
      for (const [tool, args] of [
        ["trace-summarize", []], ["trace-summarize", ["--format", "text"]], ["trace-summarize", ["--format", "verdict"]],
        ["trace-filter", ["--files"]], ["trace-filter", ["--where", "path=5"]], ["trace-diff", [base]], ["trace-diff", ["--format", "text", base]],
        ["trace-policy", ["--format", "apparmor"]], ["trace-policy", ["--format", "seccomp", "--allow-filtered"]], ["trace-grant", ["--user", "nobody"]],
      ] as const) {
        const r = run(tool, [...args, f]);
        expect(r.stderr.split("\n")[0], `${tool} ${args.join(" ")}`).toMatch(new RegExp(`^${tool}: ${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}${why.source}$`));
        expect(r.stderr, tool).not.toMatch(/Maximum call stack|is not a function|Expected input|undefined/);
        expect(r.status, `${tool} ${args.join(" ")}: ${r.stderr}`).toBe(2);
        // what was written was computed without the bad record: no summary of it
        if (tool === "trace-summarize" && !args.length) {
          const out = r.records();
          expect(out.filter((s) => s.type === "summary" && typeof s.path !== "string" && s.kind === "file")).toEqual([]);
          expect(Object.keys(out[0].syscalls)).not.toContain("undefined");
          expect(out[0].events.unparsed).toBe(1);
        }
      }
    });
  }

  it("invalid(): each type of the contract, and types only written", () => {
    const ok = (r: Record<string, unknown>) => invalid(r);
    expect(ok(openOf())).toBeUndefined();
    expect(ok({ type: "end", exit: 0, complete: true, incomplete: [], lost: 0, ended: "exited" })).toBeUndefined();
    expect(ok({ type: "end", ended: "gone" })).toBe(`"ended" is a string, not what a end record holds there`);
    expect(ok({ type: "end", complete: "yes" })).toBe(`"complete" is a string, not true or false`);
    expect(ok({ type: "profile", incomplete: "cut" })).toBe(`"incomplete" is a string, not a list of strings`);
    expect(ok({ type: "summary", kind: "file", path: 5, ops: [] })).toBe(`"path" is a number, not a string`);
    expect(ok({ type: "summary", ops: [] })).toBe(`a summary record without "kind"`);
    expect(ok({ type: "exit", pid: "1" })).toBe(`"pid" is a string, not a process id or null`);
    expect(ok({ type: "verdict", anything: [1, { x: 2 }] })).toBeUndefined();
    expect(ok({ type: "syscall", pid: 1, syscall: "x", kind: "file", op: "read", ok: true, args: [], newField: { any: 1 } })).toBeUndefined();
    let v: unknown = 1;
    for (let i = 0; i < MAX_DEPTH + 1; i++) v = [v];
    expect(ok({ type: "info", text: "x", extra: v })).toBe("values nested deeper than 64 levels");
  });
});
