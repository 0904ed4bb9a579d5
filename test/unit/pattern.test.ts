// Globs the tools made (normalised names, --collapse) are marked as such; the same text in a real name is not.
import { describe, expect, it } from "vitest";
import { fixture } from "../helpers.js";
import { DEFAULT_RULES, normalizeName, normalizePath, tempName, type Rule } from "../../lib/profile/normalize.js";
import { patternText } from "../../lib/pattern.js";
import { collapseDirs, Profiler, type Summary } from "../../lib/profile/summary.js";
import type { TraceRecord } from "../../lib/io/records.js";

describe("normalised names carry their globs", () => {
  it("default rules and temporary names: the placeholders are globs, the rest literal", () => {
    expect(normalizeName("/proc/123/task/456/stat")).toEqual({ path: "/proc/<pid>/task/<tid>/stat",
      pattern: ["/proc/", { glob: "pid" }, "/task/", { glob: "tid" }, "/stat"] });
    expect(normalizeName("/proc/self/fd/3")).toEqual({ path: "/proc/self/fd/<fd>", pattern: ["/proc/self/fd/", { glob: "fd" }] });
    expect(normalizeName("/tmp/tmp.AbC123xYz9/out")).toEqual({ path: "/tmp/tmp.<tmp>/out", pattern: ["/tmp/tmp.", { glob: "tmp" }, "/out"] });
    expect(normalizeName("/tmp/build-a1b2c3")).toEqual({ path: "/tmp/build-<tmp>", pattern: ["/tmp/build-", { glob: "tmp" }] });
  });
  it("a real name that reads like a placeholder stays literal", () => {
    for (const p of ["/etc/<tmp>", "/srv/app/**", "/tmp/<pid>", "/proc/<pid>", "/tmp/x<id>"]) expect(normalizeName(p)).toEqual({ path: p });
    // a placeholder beside literal look-alikes: only the rule's own is a glob
    expect(normalizeName("/proc/42/<pid>")).toEqual({ path: "/proc/<pid>/<pid>", pattern: ["/proc/", { glob: "pid" }, "/<pid>"] });
  });
  it("user rules: <NAME> in the replacement is a glob, what $1 copies from the name is not", () => {
    const rules: Rule[] = [{ re: /^\/home\/[^/]+\/(.*)$/, to: "/home/<user>/$1" }, { re: /^\/srv\/(\d+)-(.*)$/, to: "/srv/<n>-$2$$" }];
    expect(normalizeName("/home/ann/<tmp>/f", rules)).toEqual({ path: "/home/<user>/<tmp>/f", pattern: ["/home/", { glob: "user" }, "/<tmp>/f"] });
    expect(normalizeName("/srv/12-a*b", rules)).toEqual({ path: "/srv/<n>-a*b$", pattern: ["/srv/", { glob: "n" }, "-a*b$"] });
    // the same text as String.replace makes, whatever the replacement
    const more: Rule[] = [{ re: /b(c)(?<d>d)?/, to: "[$&|$1|$<d>|$`|$'|$$|$2|$9]" }];
    for (const p of ["/abcde", "/abce", "/x"]) expect(normalizeName(p, more).path).toBe(p.replace(more[0].re, more[0].to));
  });
  // normalizePath as it was before it carried patterns: String.replace, rule after rule
  const before = (p: string) => {
    if (!/^\/(proc|dev|tmp|var\/tmp|run\/user)(\/|$)/.test(p)) return p;
    let out = p;
    for (const r of DEFAULT_RULES) out = out.replace(r.re, r.to);
    const t = /^(\/tmp|\/var\/tmp|\/dev\/shm|\/run\/user\/\d+)\/([^/]+)/.exec(out);
    const n = t && tempName(t[2]);
    return t && n !== undefined ? t[1] + "/" + n + out.slice(t[0].length) : out;
  };
  it("normalizePath is the same text as before for the captures' paths", () => {
    const paths = [...new Set(["tworuns-1.strace", "pipeline.strace", "py-import.strace"].flatMap((f) => fixture(f))
      .flatMap((r) => [(r as { path?: string }).path, (r as { path2?: string }).path2]).filter((p): p is string => !!p))];
    expect(paths.length).toBeGreaterThan(50);
    for (const p of paths) {
      const n = normalizeName(p);
      expect(normalizePath(p)).toBe(before(p));
      if (n.pattern) expect(patternText(n.pattern)).toBe(n.path);
    }
  });
});

describe("profiles", () => {
  const prof = (recs: object[], collapse?: number) => {
    const p = new Profiler();
    for (const r of recs) p.add(r as TraceRecord);
    return p.result(collapse).slice(1) as Summary[];
  };
  it("a real run's /proc/<pid> summaries have their pattern, and keep it through a merge", () => {
    // the daemons' looks at other processes' /proc entries (a traced process's look at its own, or a
    // relative's, is /proc/self: tworuns' cat reads its parent shell's status)
    const xs = prof(fixture("two-containers.strace"));
    const procs = xs.filter((s) => s.path?.startsWith("/proc/<pid>"));
    expect(procs.length).toBeGreaterThan(0);
    for (const s of procs) expect(s.pattern?.[1]).toEqual({ glob: "pid" });
    expect(prof(fixture("tworuns-1.strace")).filter((s) => s.path === "/proc/self/status")).toHaveLength(1);
    expect(xs.filter((s) => s.path === "/etc/ld.so.cache").every((s) => s.pattern === undefined)).toBe(true);
    const again = prof([{ type: "profile" }, ...xs]);
    expect(again.filter((s) => s.pattern).map((s) => [s.path, s.pattern])).toEqual(xs.filter((s) => s.pattern).map((s) => [s.path, s.pattern]));
  });
  it("--collapse: DIR/** is a glob, and DIR keeps the globs its entries had", () => {
    const xs = prof(fixture("tworuns-1.strace"));
    const c = collapseDirs(xs, 1);
    const lib = c.find((s) => s.path?.endsWith("/**") && !s.path.includes("<"))!;
    expect(lib.pattern).toEqual([lib.path!.slice(0, -2), { glob: "**" }]);
    const proc = c.find((s) => s.path?.startsWith("/proc/<pid>/") && s.path.endsWith("/**"));
    if (proc) expect(proc.pattern?.slice(0, 2)).toEqual(["/proc/", { glob: "pid" }]);
  });
});
