// trace-filter and trace-summarize as executables, in pipes.
import { describe, expect, it, beforeAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { FIX, ROOT, run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/trace-fs-");
let events = "";
const lines = (s: string) => s.split("\n").filter(Boolean).map((l) => JSON.parse(l));

describe("trace-filter", () => {
  beforeAll(() => {
    events = run("trace-parse", [FIX + "pipeline.strace"]).stdout;
    writeFileSync(tmp + "/events.ndjson", events);
    writeFileSync(tmp + "/py.ndjson", run("trace-parse", [FIX + "py-import.strace"]).stdout);
  });

  it("--files --op, headers passed through", () => {
    const r = run("trace-filter", ["--files", "--op", "mkdir", "--op", "rename"], events);
    expect(r.status).toBe(0);
    const recs = r.records();
    expect(recs[0].type).toBe("run");
    expect(recs.at(-1).type).toBe("end");
    const body = recs.slice(1, -1);
    expect(body.map((x) => x.syscall).sort()).toEqual(["mkdir", "renameat2"]);
    expect(run("trace-filter", ["--files", "--op", "mkdir", "--no-headers"], events).records().length).toBe(1);
  });

  it("--path, --not-path, -v and -c agree", () => {
    const all = Number(run("trace-filter", ["-c"], events).stdout);
    const tmpOnes = Number(run("trace-filter", ["-c", "--path", "/tmp/**"], events).stdout);
    const notTmp = Number(run("trace-filter", ["-c", "-v", "--path", "/tmp/**"], events).stdout);
    expect(tmpOnes).toBeGreaterThan(10);
    expect(tmpOnes + notTmp).toBe(all);
    const r = run("trace-filter", ["--no-headers", "--path", "/tmp/leastpriv-capture/**", "--not-path", "**/sub/**"], events).records();
    expect(r.length).toBeGreaterThan(0);
    // "**" matches no segment too: the directory itself is in
    expect(r.every((x) => x.path.startsWith("/tmp/leastpriv-capture") && !x.path.includes("/sub/") && !(x.path2 ?? "").includes("/sub/"))).toBe(true);
    expect(r.some((x) => x.path === "/tmp/leastpriv-capture/hello.txt")).toBe(true);
  });

  it("--failed --errno; --exit-status when nothing matches", () => {
    const denied = run("trace-filter", ["--no-headers", "--failed", "--errno", "EACCES"], run("trace-parse", [FIX + "user-nobody.strace"]).stdout).records();
    expect(denied.map((x) => x.path)).toEqual(["/etc/shadow"]);
    const none = run("trace-filter", ["--exit-status", "--errno", "EPERM"], events);
    expect(none.status).toBe(1);
    expect(run("trace-filter", ["--errno", "EPERM"], events).status).toBe(0);
  });

  it("--network --port --addr on events; the same selectors on a profile", () => {
    const ev = run("trace-parse", [FIX + "net-tcp.strace"]).stdout;
    const conn = run("trace-filter", ["--no-headers", "--network", "--op", "connect", "--addr", "127.0.0.1"], ev).records();
    expect(conn.length).toBe(1);
    const port = conn[0].addr.port;
    expect(Number(run("trace-filter", ["-c", "--port", String(port), "--op", "connect"], ev).stdout)).toBe(1);
    const prof = run("trace-summarize", [], ev).stdout;
    const peers = run("trace-filter", ["--network", "--op", "connect"], prof).records();
    expect(peers[0].type).toBe("profile");
    expect(peers.slice(1)).toEqual([expect.objectContaining({ type: "summary", kind: "net", role: "peer", addr: expect.objectContaining({ port }) })]);
    const etc = run("trace-filter", ["--no-headers", "--path", "/usr/lib/python3.11/**"], run("trace-summarize", ["--collapse", "30"], ev).stdout).records();
    expect(etc.some((s) => s.path === "/usr/lib/python3.11/**")).toBe(true);
  });

  it("a line that is not JSON: file:line on stderr, an unparsed record, exit 2", () => {
    // a real file access (a record of the contract), then two lines that are not records
    const access = events.split("\n").find((l) => l.includes('"kind":"file"'))!;
    const r = run("trace-filter", ["--files"], access + '\nnot json\n[1,2]\n');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^trace-filter: <stdin>:2: invalid JSON: /);
    expect(r.stderr).toMatch(/trace-filter: <stdin>:3: not a record/);
    expect(r.records().map((x) => x.type)).toEqual(["syscall", "unparsed", "unparsed"]);
    expect(r.records()[1]).toMatchObject({ file: "<stdin>", line: 2, text: "not json" });
    expect(run("trace-filter", ["/nonexistent.ndjson"])).toMatchObject({ status: 2, stderr: "trace-filter: /nonexistent.ndjson: No such file or directory\n" });
  });

  it("| head -n1 ends quietly with success", () => {
    const r = spawnSync("bash", ["-c", `for i in $(seq 30); do cat ${tmp}/events.ndjson; done | node dist/commands/trace-filter.js --files | head -n1; echo "status \${PIPESTATUS[1]}"`], { cwd: ROOT });
    expect(r.stdout.toString()).toMatch(/^\{"type":"run".*\nstatus 0\n$/);
    expect(r.stderr.toString()).toBe("");
  });
});

describe("trace-summarize", () => {
  it("events to a profile: header first, summaries sorted, stable text", () => {
    const a = run("trace-summarize", [], events);
    expect(a.status).toBe(0);
    const recs = a.records();
    expect(recs[0]).toMatchObject({ type: "profile", v: 1 });
    const sums = recs.slice(1);
    expect(sums.map((x) => x.type)).toEqual(sums.map(() => "summary"));
    // sorted: by kind in the order the report reads them, then by name (code units), no name twice
    const kinds = ["file", "exec", "net", "priv", "cred"];
    expect([...new Set(sums.map((x) => x.kind))]).toEqual(["file", "exec"]);
    for (let i = 1; i < sums.length; i++) {
      const [a, b] = [sums[i - 1], sums[i]];
      const byKind = kinds.indexOf(a.kind) - kinds.indexOf(b.kind);
      expect(byKind, `${a.kind} ${a.path} before ${b.kind} ${b.path}`).toBeLessThanOrEqual(0);
      if (byKind === 0) expect(a.path < b.path, `${a.path} before ${b.path}`).toBe(true);
    }
    expect(run("trace-summarize", [tmp + "/events.ndjson"]).stdout).toBe(a.stdout);
  });

  it("--merge of two runs' profiles equals the profile of both runs", () => {
    const e1 = run("trace-parse", [FIX + "tworuns-1.strace"]).stdout, e2 = run("trace-parse", [FIX + "tworuns-2.strace"]).stdout;
    writeFileSync(tmp + "/p1", run("trace-summarize", [], e1).stdout);
    writeFileSync(tmp + "/p2", run("trace-summarize", [], e2).stdout);
    const merged = run("trace-summarize", ["--merge", tmp + "/p1", tmp + "/p2"]).stdout;
    expect(merged).toBe(run("trace-summarize", [], e1 + e2).stdout);
    const m = lines(merged);
    expect(m[0].runs).toBe(2);
    expect(m.find((s) => s.path === "/tmp/<tmp>/a").calls).toBe(2 * lines(run("trace-summarize", [], e1).stdout).find((s) => s.path === "/tmp/<tmp>/a").calls);
  });

  it("--format text: a report grouped by kind, no colour when not a terminal", () => {
    const r = run("trace-summarize", ["--format", "text", "--collapse", "5"], events);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Profile of sh -c cat hello\.txt/);
    for (const h of ["Written, not changes", "Files read", "Programs run", "Searches that found nothing", "System calls"]) expect(r.stdout).toContain(h);
    // the files it wrote are in /tmp and /dev/null: the answers say no change, and so does the list
    expect(r.stdout).toContain("  Changes:    no");
    expect(r.stdout).not.toContain("Files changed");
    expect(r.stdout).not.toMatch(/\x1b\[/);
    const p = run("trace-summarize", ["--format", "text"], run("trace-parse", [FIX + "priv.strace"]).stdout).stdout;
    expect(p).toContain("bind needs CAP_NET_BIND_SERVICE: bind 127.0.0.1:80 (ok)");
  });

  it("--rules: the user's normalisation", () => {
    writeFileSync(tmp + "/rules", "# our build dirs\n^/tmp/leastpriv-capture/ => /WORK/\n");
    const r = run("trace-summarize", ["--rules", tmp + "/rules"], events).records();
    expect(r.some((s) => s.path === "/WORK/hello.txt")).toBe(true);
    writeFileSync(tmp + "/bad", "no arrow here\n");
    expect(run("trace-summarize", ["--rules", tmp + "/bad"], events)).toMatchObject({ status: 2, stderr: `trace-summarize: ${tmp}/bad:1: a rule is 'REGEX => REPLACEMENT'\n` });
  });

  it("bad input and usage errors", () => {
    const r = run("trace-summarize", [], "{oops\n");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^trace-summarize: <stdin>:1: invalid JSON/);
    expect(run("trace-summarize", ["--collapse", "0"]).status).toBe(2);
  });
});

describe("| head -n1 on every tool that writes a lot at the end", () => {
  it("text reports, profiles, diffs and policies end quietly with 0 when their reader goes away", () => {
    const big = tmp + "/big.ndjson";
    // enough distinct files that each output is larger than a pipe's buffer
    execFileSync("sh", ["-c", `for i in $(seq 40); do sed "s#/usr/lib/python3.11/#/usr/lib/python3.11/$i/#g" ${tmp}/py.ndjson; done > ${big}`]);
    for (const cmd of ["trace-summarize --format text", "trace-summarize", "trace-diff --format text /dev/null", "trace-policy --format apparmor"]) {
      const [tool, ...args] = cmd.split(" ");
      const r = spawnSync("bash", ["-c", `node dist/commands/${tool}.js ${args.join(" ")} ${big} | head -n1 >/dev/null; echo "status \${PIPESTATUS[0]}"`], { cwd: ROOT, encoding: "utf8" });
      expect(r.stdout, cmd).toBe("status 0\n");
      expect(r.stderr, cmd).toBe("");
    }
  });
});
