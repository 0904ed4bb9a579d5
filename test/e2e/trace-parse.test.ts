// trace-parse as a user runs it: the built executable, a fixed environment, stdin and files.
import { describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { FIX, ROOT, run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/trace-parse-");

describe("trace-parse", () => {

  it("parses a file: run header first, end footer last, exit 0, nothing on stderr", () => {
    const r = run("trace-parse", [FIX + "pipeline.strace"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    const recs = r.records();
    expect(recs[0]).toMatchObject({ type: "run", tracer: "strace", sources: [FIX + "pipeline.strace"] });
    expect(recs.at(-1)).toMatchObject({ type: "end", lines: 1495, unparsed: 0 });
    expect(recs.filter((x) => x.type === "syscall").length).toBeGreaterThan(1000);
  });

  it("reads stdin with - and with no operand", () => {
    const input = readFileSync(FIX + "single.strace");
    const a = run("trace-parse", ["-"], input), b = run("trace-parse", [], input);
    expect(a.status).toBe(0);
    expect(a.stdout.replace('"-"', "")).toBe(b.stdout.replace('"-"', ""));
    expect(a.records().filter((x) => x.type === "syscall").length).toBe(119);   // 120 lines, the last an exit
  });

  it("-ff files given as several operands", () => {
    const r = run("trace-parse", [FIX + "ff/trace.2409", FIX + "ff/trace.2410", FIX + "ff/trace.2411"]);
    const pids = new Set(r.records().filter((x) => x.type === "syscall").map((x) => x.pid));
    expect([...pids].sort()).toEqual([2409, 2410, 2411]);
  });

  it("--cwd and --date", () => {
    const r = run("trace-parse", ["--cwd", "/tmp/leastpriv-capture", "--date", "2026-11-27", FIX + "midnight.strace"]);
    const recs = r.records();
    const cat = recs.find((x) => x.syscall === "openat" && x.args[1] === "hello.txt");
    expect(cat.path).toBe("/tmp/leastpriv-capture/hello.txt");
    expect(recs[1].time).toBeCloseTo(Date.UTC(2026, 10, 27, 23, 59, 59) / 1000 + 0.004006, 5);
  });

  it("garbage: unparsed records with file and line, one summary line on stderr, exit 0", () => {
    const f = tmp + "/garbage.log";
    // garbage around a real line, and a real line cut short at the end
    const real = readFileSync(FIX + "t.strace", "utf8").split("\n").find((l) => l.includes('openat(AT_FDCWD, "hello.txt"'))!;
    writeFileSync(f, Buffer.concat([Buffer.from("not strace at all\n"), Buffer.from([0, 1, 2, 0xff, 0xfe, 10]), Buffer.from(real + "\n"), Buffer.from(real.slice(0, 30))]));
    const r = run("trace-parse", [f]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`trace-parse: ${f}: 3 lines not understood\n`);
    const un = r.records().filter((x) => x.type === "unparsed");
    expect(un.map((x) => [x.file, x.line])).toEqual([[f, 1], [f, 2], [f, 4]]);
    expect(un[1].text).toBe("\u0000\u0001\u0002\udcff\udcfe");
    expect(un[2].reason).toMatch(/cut off/);
    expect(r.records().find((x) => x.type === "syscall")).toMatchObject({ syscall: "openat", path: "hello.txt", ret: 3 });
  });

  it("--strict: the first line not understood is an error naming file and line", () => {
    const r = run("trace-parse", ["--strict", "-"], readFileSync(FIX + "segv.strace", "utf8").split("\n")[0] + "\nwhat is this\n");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("trace-parse: <stdin>:2: not an strace line: what is this\n");
  });

  it("an empty file", () => {
    const f = tmp + "/empty.log";
    writeFileSync(f, "");
    const r = run("trace-parse", [f]);
    expect(r.status).toBe(0);
    expect(r.records()).toEqual([{ type: "run", v: 1, tracer: "strace", sources: [f] }, { type: "end", lines: 0, records: 0, unparsed: 0, complete: false, incomplete: ["the log is empty"] }]);
  });

  it("a 10 MB line: one unparsed record with its length, memory bounded, the next line still parsed", () => {
    const f = tmp + "/long.log";
    const first = 'write(1, "' + "x".repeat(10 << 20) + '", 10485760) = 10485760';
    writeFileSync(f, first + "\nclose(3) = 0\n");
    const r = run("trace-parse", [f]);
    expect(r.status).toBe(0);
    const recs = r.records();
    const un = recs.find((x) => x.type === "unparsed");
    expect(un).toMatchObject({ line: 1, truncated: first.length, reason: "line longer than the limit" });
    expect(un.text.length).toBe(4096);
    expect(recs.find((x) => x.type === "syscall")).toMatchObject({ syscall: "close" });
  });

  it("a missing file: one line on stderr, exit 2, the other operands still parsed", () => {
    const r = run("trace-parse", ["/nonexistent/trace.log", FIX + "segv.strace"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("trace-parse: /nonexistent/trace.log: No such file or directory\n");
    expect(r.records().some((x) => x.type === "exit" && x.signal === "SIGSEGV")).toBe(true);
  });

  it("usage errors: one line, a hint, exit 2", () => {
    const r = run("trace-parse", ["--bogus"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("trace-parse: Unknown argument: bogus\nTry 'trace-parse --help' for more information.\n");
    expect(run("trace-parse", ["--date", "yesterday"]).stderr).toMatch(/^trace-parse: --date wants YYYY-MM-DD/);
  });

  it("--help on stdout with examples, --version", () => {
    const h = run("trace-parse", ["--help"]);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^Usage: trace-parse/);
    expect(h.stdout).toMatch(/Examples:/);
    const v = run("trace-parse", ["--version"]);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(ROOT + "package.json", "utf8")).version);
  });

  it("| head -n1 ends quietly with success", () => {
    const r = spawnSync("bash", ["-o", "pipefail", "-c", `node dist/commands/trace-parse.js ${FIX}pipeline.strace ${FIX}attach.strace ${FIX}net-tcp.strace | head -n1`], { cwd: ROOT });
    expect(r.status).toBe(0);
    expect(r.stderr.toString()).toBe("");
    expect(JSON.parse(r.stdout.toString()).type).toBe("run");
  });
});

describe("trace-parse on strace running now", () => {
  it("strace -f -tt -T -yy of a shell pipeline: files, programs and the pipe", () => {
    const log = tmp + "/live.strace";
    execFileSync("strace", ["-f", "-tt", "-T", "-yy", "-s", "256", "-o", log, "sh", "-c", "cat /etc/hostname | wc -c >/dev/null; cd /etc && cat ./hostname >/dev/null"], { cwd: "/" });
    const r = run("trace-parse", [log]);
    expect(r.status).toBe(0);
    const recs = r.records();
    expect(recs.at(-1)).toMatchObject({ type: "end", unparsed: 0 });
    const sys = recs.filter((x) => x.type === "syscall");
    const reads = sys.filter((x) => x.kind === "file" && x.op === "read" && x.syscall === "openat" && x.ok).map((x) => x.path);
    expect(reads.filter((p: string) => p === "/etc/hostname").length).toBe(2);     // once by path, once via cd + ./hostname
    expect(sys.filter((x) => x.kind === "exec" && x.ok).map((x) => x.path)).toEqual(expect.arrayContaining(["/usr/bin/cat", "/usr/bin/wc"]));
    expect(sys.some((x) => x.syscall === "pipe2" && x.kind === "ipc")).toBe(true);
    expect(sys.filter((x) => x.incomplete)).toEqual([]);
  });

  it("the end record says whether the log shows a whole run: cut logs, unparsed lines, detach", () => {
    const endOf = (args: string[], input?: string) => run("trace-parse", args, input).records().at(-1);
    expect(endOf([FIX + "pipeline.strace"])).toMatchObject({ complete: true });
    expect(endOf([FIX + "pipeline.strace"]).incomplete).toBeUndefined();
    // the same real log cut in the middle (as when strace was killed): calls unfinished, processes not ended
    const lines = readFileSync(FIX + "pipeline.strace", "utf8").split("\n");
    const cut = lines.slice(0, lines.findIndex((l) => / <unfinished \.\.\.>$/.test(l)) + 1).join("\n") + "\n";
    const e = endOf(["-"], cut);
    expect(e.complete).toBe(false);
    expect(e.incomplete).toEqual(expect.arrayContaining([expect.stringMatching(/^the log ends with \d+ calls? unfinished$/), expect.stringMatching(/^the log ends before \d+ of its processes did$/)]));
    // a cut between calls: only the processes say it
    expect(endOf(["-"], lines.slice(0, 40).join("\n") + "\n").incomplete).toEqual(["the log ends before 1 of its processes did"]);
    expect(endOf(["-"], lines.slice(0, 40).join("\n") + "\nwhat is this\n" + lines.slice(40).join("\n")))
      .toMatchObject({ complete: false, incomplete: ["1 line not understood"] });
    // strace -p, then ^C: strace let go; the processes run on, and that is the whole of what was asked
    expect(endOf([FIX + "attach.strace"])).toMatchObject({ ended: "detached", complete: true });
    // bpftrace's tools show neither losses nor the end of the run
    expect(endOf([ROOT + "test/fixtures/bpftrace/opensnoop.out"])).toMatchObject({ complete: false, incomplete: ["opensnoop.bt output does not show whether events were lost or the run ended"] });
  });

  it("CRLF line ends: a log and its records copied through Windows read as the originals", () => {
    const lf = readFileSync(FIX + "pipeline.strace", "latin1");
    writeFileSync(tmp + "/crlf.strace", lf.replace(/\n/g, "\r\n"), "latin1");
    writeFileSync(tmp + "/lf.strace", lf, "latin1");
    const a = run("trace-parse", [tmp + "/lf.strace"]), b = run("trace-parse", [tmp + "/crlf.strace"]);
    expect(b.stderr).toBe("");
    expect(b.stdout.replace(/crlf\.strace/g, "lf.strace")).toBe(a.stdout);
    // the records, with CRLF, through the NDJSON readers
    const crlfRecords = a.stdout.replace(/\n/g, "\r\n");
    for (const [tool, args] of [["trace-filter", ["--files"]], ["trace-summarize", []]] as const) {
      const x = run(tool, [...args], a.stdout), y = run(tool, [...args], crlfRecords);
      expect([y.status, y.stderr], tool).toEqual([0, ""]);
      expect(y.stdout, tool).toBe(x.stdout);
    }
  });
});
