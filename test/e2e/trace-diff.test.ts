// trace-diff on real traces: clean runs, a version that reads one more file, allow patterns, --update.
import { describe, expect, it, beforeAll } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { FIX, ROOT, run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/trace-diff-");
const traced = (script: string) => run("trace-run", ["--", "sh", "-c", script]).stdout;

describe("trace-diff", () => {
  let v1 = "", v2 = "";
  beforeAll(() => {
    // version 1 of a "tool" reads a config; version 2 also reads /etc/shadow
    writeFileSync(tmp + "/tool.sh", "cat /etc/hostname >/dev/null\n");
    v1 = traced(`sh ${tmp}/tool.sh`);
    writeFileSync(tmp + "/tool.sh", "cat /etc/hostname /etc/shadow >/dev/null\n");
    v2 = traced(`sh ${tmp}/tool.sh`);
    writeFileSync(tmp + "/tool.sh", "cat /etc/hostname >/dev/null\n");
    writeFileSync(tmp + "/base.profile", run("trace-summarize", [], v1).stdout);
  });

  it("two runs of the same command diff clean (exit 0)", () => {
    const base = run("trace-summarize", [], run("trace-parse", [FIX + "tworuns-1.strace"]).stdout).stdout;
    writeFileSync(tmp + "/tworuns.profile", base);
    const r = run("trace-diff", [tmp + "/tworuns.profile"], run("trace-parse", [FIX + "tworuns-2.strace"]).stdout);
    expect(r.status).toBe(0);
    expect(r.records()).toEqual([{ type: "end", differences: 0, failing: 0, added: 0, removed: 0, changed: 0 }]);
    const live = run("trace-diff", [tmp + "/base.profile"], traced(`sh ${tmp}/tool.sh`));
    expect(live.status).toBe(0);
  });

  it("a version that reads one more file fails with exit 1 and names it", () => {
    const r = run("trace-diff", [tmp + "/base.profile", "-"], v2);
    expect(r.status).toBe(1);
    const failing = r.records().filter((x) => x.fails);
    expect(failing).toEqual([expect.objectContaining({ type: "diff", change: "added", kind: "file", path: "/etc/shadow", ops: ["read"] })]);
    const text = run("trace-diff", ["--format", "text", tmp + "/base.profile"], v2);
    expect(text.stdout).toContain("+ file /etc/shadow [read]\n");
    expect(text.stdout).toMatch(/1 failing\n$/);
    // the differences are records trace-filter can narrow
    expect(run("trace-filter", ["-c", "--path", "/etc/**"], r.stdout).stdout.trim()).toBe("1");
  });

  it("an allow pattern makes it pass; the old version doing less passes unless --strict", () => {
    const r = run("trace-diff", ["--allow", "/etc/shadow", tmp + "/base.profile"], v2);
    expect(r.status).toBe(0);
    expect(r.records()[0]).toMatchObject({ path: "/etc/shadow", fails: false, allowed: "/etc/shadow" });
    writeFileSync(tmp + "/allow", "# reviewed 2026-11-28\n/etc/sh*\n");
    expect(run("trace-diff", ["--allow-file", tmp + "/allow", tmp + "/base.profile"], v2).status).toBe(0);
    writeFileSync(tmp + "/v2.profile", run("trace-summarize", [], v2).stdout);
    const less = run("trace-diff", [tmp + "/v2.profile"], v1);
    expect(less.status).toBe(0);
    expect(less.records().some((x) => x.change === "removed" && x.path === "/etc/shadow")).toBe(true);
    expect(run("trace-diff", ["--strict", tmp + "/v2.profile"], v1).status).toBe(1);
    expect(run("trace-diff", ["--ignore-kind", "file", tmp + "/base.profile"], v2).status).toBe(0);
  });

  it("--update accepts the change: the baseline is rewritten, sorted, and the next diff is clean", () => {
    writeFileSync(tmp + "/upd.profile", readFileSync(tmp + "/base.profile"));
    const u = run("trace-diff", ["--update", tmp + "/upd.profile"], v2);
    expect(u.status).toBe(0);
    const text = readFileSync(tmp + "/upd.profile", "utf8");
    expect(text).toContain('"path":"/etc/shadow"');
    expect(run("trace-diff", [tmp + "/upd.profile"], v2).status).toBe(0);
    // stably sorted: a second update keeps the same resources in the same order
    run("trace-diff", ["--update", tmp + "/upd.profile"], v2);
    const keys = (t: string) => t.split("\n").filter(Boolean).slice(1).map((l) => { const x = JSON.parse(l); return x.kind + " " + (x.path ?? JSON.stringify(x.addr) ?? x.op); });
    expect(keys(readFileSync(tmp + "/upd.profile", "utf8"))).toEqual(keys(text));
    expect(keys(text)).toEqual([...keys(text)].sort((a, b) => ["file", "exec", "net", "priv", "cred"].indexOf(a.split(" ")[0]) - ["file", "exec", "net", "priv", "cred"].indexOf(b.split(" ")[0]) || (a < b ? -1 : a > b ? 1 : 0)));
  });

  it("trouble: exit 2", () => {
    expect(run("trace-diff", []).status).toBe(2);
    expect(run("trace-diff", ["/nonexistent.profile"], "").status).toBe(2);
    expect(run("trace-diff", [tmp + "/base.profile"], "garbage\n").status).toBe(2);
    // a trace that failed and wrote nothing must not pass as a program that did nothing new
    const empty = run("trace-diff", [tmp + "/base.profile"], "");
    expect(empty.status).toBe(2);
    expect(empty.stderr).toBe("trace-diff: <stdin>: no records: nothing to compare\n");
  });
});
