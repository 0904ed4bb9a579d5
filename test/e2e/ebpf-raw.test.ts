// trace-run --backend ebpf --raw FILE keeps the eBPF loader's frames, and trace-parse reads them back:
// real loader runs as root; the bad inputs are those files cut and corrupted, as a crash or a full disk
// leaves them, never frames written by hand.
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { readFileSync, rmSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run } from "../helpers.js";
import { RingReader } from "../../lib/bpf/ring-reader.js";
import { readAll } from "../../lib/trace/reader.js";
import { end, nothingLeft, start, until } from "../faults.js";
import type { SyscallRecord, TraceRecord } from "../../lib/io/records.js";

const tmp = mkdtempSync(tmpdir() + "/trace-ebpf-raw-");
const calls = (recs: any[]): SyscallRecord[] => recs.filter((x) => x.type === "syscall");
// what the trace holds: every record between the header and the footer
const body = (recs: any[]) => recs.slice(1, -1);

/** Where each frame's length is (bpf/events.h: a u32 length, then the frame). */
function frames(b: Buffer): number[] {
  const at: number[] = [];
  for (let o = 0; o + 4 <= b.length; o += 4 + b.readUInt32LE(o)) at.push(o);
  return at;
}

describe("trace-run --backend ebpf --raw, read back by trace-parse", () => {
  let raw: Buffer;
  let file: string;
  let live: any[];
  beforeAll(() => {
    // a small tree: a shell, python in a directory of its own making names with a newline, a tab and a
    // byte that is not UTF-8, ls run on them with such an argument, and a subshell
    writeFileSync(tmp + "/hostile.py", [
      "import os",
      "os.makedirs(b'd', exist_ok=True)",
      "os.chdir(b'd')",
      "for n in [b'a\\nb', b't\\tx\\xff']:",
      "    os.close(os.open(n, os.O_CREAT | os.O_WRONLY, 0o600))",
      "pid = os.fork()",
      "if pid == 0:",
      "    os.execv(b'/bin/ls', [b'ls', b'-d', b'a\\nb', b't\\tx\\xff', b'no\\nsuch\\t\\xfe'])",
      "os.waitpid(pid, 0)",
    ].join("\n") + "\n");
    writeFileSync(tmp + "/work.sh", [
      "cd \"$(dirname \"$0\")\"",
      "/usr/bin/python3 hostile.py >/dev/null 2>&1",
      "(cat /etc/hostname > /dev/null) &",
      "wait",
    ].join("\n") + "\n");
    file = tmp + "/work.raw";
    const r = run("trace-run", ["--backend", "ebpf", "--raw", file, "--", "sh", tmp + "/work.sh"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    live = r.records();
    raw = readFileSync(file);
  }, 60000);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("the frames as the loader wrote them: trace-parse makes the live run's records, over repeated runs", () => {
    for (let round = 0; round < 3; round++) {
      const f = `${tmp}/round${round}.raw`;
      const r = round === 0 ? { status: 0, records: () => live } : run("trace-run", ["--backend", "ebpf", "--raw", f, "--", "sh", tmp + "/work.sh"]);
      expect(r.status).toBe(0);
      const recs = r.records();
      const p = run("trace-parse", [round === 0 ? file : f]);
      expect(p.stderr).toBe("");
      expect(p.status).toBe(0);
      const parsed = p.records();
      expect(parsed[0]).toEqual({ type: "run", v: 1, tracer: "ebpf", sources: [round === 0 ? file : f] });
      expect(body(parsed)).toEqual(body(recs));
      const [e, pe] = [recs.at(-1), parsed.at(-1)];
      expect(pe).toEqual({ type: "end", lines: e.lines, records: e.records, unparsed: 0, lost: 0, complete: true });
      // the hostile names, byte for byte, in a path and in an argument
      const c = calls(parsed);
      const d = tmp + "/d/";
      expect(c.filter((x) => x.syscall === "openat" && x.op === "create" && x.path?.startsWith(d)).map((x) => x.path)).toEqual([d + "a\nb", d + "t\tx\udcff"]);
      expect(c.find((x) => x.syscall === "execve" && x.path === "/bin/ls")).toMatchObject({ ok: true, argv: ["ls", "-d", "a\nb", "t\tx\udcff", "no\nsuch\t\udcfe"] });
      expect(c.find((x) => x.syscall === "openat" && x.path === "/etc/hostname")).toMatchObject({ ok: true });
      expect(parsed.filter((x) => x.type === "exit").length).toBeGreaterThanOrEqual(4);
    }
  }, 90000);

  it("is told by its first bytes, or by --format ebpf, from a file or from standard input", () => {
    const want = body(run("trace-parse", [file]).records());
    for (const [args, input] of [[["--format", "ebpf", file]], [["-"], raw], [[], raw], [["--format", "ebpf"], raw]] as [string[], Buffer?][]) {
      const p = run("trace-parse", args, input);
      expect(p.status).toBe(0);
      const recs = p.records();
      expect(recs[0]).toMatchObject({ type: "run", tracer: "ebpf", sources: input ? ["-"] : [file] });
      expect(body(recs)).toEqual(want);
      expect(recs.at(-1)).toMatchObject({ type: "end", complete: true });
    }
    // a capture of the loader's frames made otherwise (test/fixtures/ebpf/capture.sh): what its reader makes
    const fixture = ROOT + "test/fixtures/ebpf/vfork-late.frames";
    const direct: TraceRecord[] = [];
    readAll(new RingReader((x) => direct.push(x)), readFileSync(fixture), fixture);
    const fx = run("trace-parse", [fixture]);
    expect(fx.status).toBe(0);
    expect(fx.records()[0]).toMatchObject({ type: "run", tracer: "ebpf" });
    expect(body(fx.records())).toEqual(JSON.parse(JSON.stringify(direct)));
    expect(fx.records().at(-1)).toMatchObject({ type: "end", unparsed: 0, lost: 0, complete: true });
    // other text is still read as before
    const s = run("trace-parse", [], "execve(\"/bin/true\", [\"true\"], 0x7ffd /* 20 vars */) = 0\n+++ exited with 0 +++\n");
    expect(s.records()[0]).toMatchObject({ type: "run", tracer: "strace" });
  });

  /** trace-parse of `bytes`, as a file and with --strict; the calls of the good start are the whole file's. */
  function bad(name: string, bytes: Buffer) {
    const f = `${tmp}/${name}.raw`;
    writeFileSync(f, bytes);
    const p = run("trace-parse", [f]);
    const strict = run("trace-parse", ["--strict", f]);
    const whole = calls(run("trace-parse", [file]).records());
    const recs = p.records();
    const c = calls(recs);
    expect(c.length).toBeGreaterThan(0);
    // per process, the calls of the good start are the whole file's first (a child's records wait for its
    // parent's fork call, which may lie past the cut: across processes the order may differ there)
    const byPid = (xs: SyscallRecord[]) => {
      const m = new Map<number | null, SyscallRecord[]>();
      for (const x of xs) m.set(x.pid, [...(m.get(x.pid) ?? []), x]);
      return m;
    };
    const w = byPid(whole);
    for (const [pid, xs] of byPid(c)) expect(xs).toEqual(w.get(pid)?.slice(0, xs.length));
    return { f, p, strict, recs, unparsed: recs.filter((x) => x.type === "unparsed"), end: recs.at(-1) };
  }

  it("a run cut inside a frame, or between frames: said where, the end incomplete, --strict exits 2", () => {
    const at = frames(raw);
    const k = Math.floor(at.length / 2);
    const len = raw.readUInt32LE(at[k]);
    const mid = bad("cut-mid", raw.subarray(0, at[k] + 10));
    expect(mid.p.status).toBe(0);
    expect(mid.unparsed).toEqual([{ type: "unparsed", file: mid.f, line: k + 1, offset: at[k], text: raw.toString("hex", at[k], at[k] + 10),
      reason: `a frame cut short at the end of the loader's output (6 of its ${len} bytes)` }]);
    expect(mid.end).toMatchObject({ type: "end", lines: k, unparsed: 1, complete: false,
      incomplete: ["1 frame of the eBPF loader not understood", "the eBPF loader's output ends before its end frame"] });
    expect(mid.p.stderr).toBe(`trace-parse: ${mid.f}: 1 frame of the eBPF loader not understood\ntrace-parse: ${mid.f}: the eBPF loader's output ends before its end frame: the run was cut short\n`);
    expect(mid.strict.status).toBe(2);
    expect(mid.strict.stderr).toBe(`trace-parse: ${mid.f}: byte ${at[k]} (frame ${k + 1}): a frame cut short at the end of the loader's output (6 of its ${len} bytes)\n`);

    // cut where a frame begins: nothing is cut but the end frame, which is missing
    const edge = bad("cut-edge", raw.subarray(0, at[k]));
    expect(edge.unparsed).toEqual([{ type: "unparsed", file: edge.f, line: k + 1, offset: at[k], text: "", reason: "the loader's output ends here, before its end frame: the run was cut short" }]);
    expect(edge.end).toMatchObject({ type: "end", lines: k, complete: false, incomplete: ["the eBPF loader's output ends before its end frame"] });
    expect(edge.p.stderr).toBe(`trace-parse: ${edge.f}: the eBPF loader's output ends before its end frame: the run was cut short\n`);
    expect(edge.strict.status).toBe(2);
    expect(edge.strict.stderr).toMatch(new RegExp(`^trace-parse: ${edge.f}: byte ${at[k]} \\(frame ${k + 1}\\): the loader's output ends here`));

    // from standard input, the same, and the error names it
    const stdin = run("trace-parse", ["--strict", "-"], raw.subarray(0, at[k] + 10));
    expect(stdin.status).toBe(2);
    expect(stdin.stderr).toBe(`trace-parse: <stdin>: byte ${at[k]} (frame ${k + 1}): a frame cut short at the end of the loader's output (6 of its ${len} bytes)\n`);
  });

  it("a length no frame has, a zeroed tail, a type the loader does not write: the rest said, not guessed at", () => {
    const at = frames(raw);
    const k = Math.floor(at.length / 3);
    const cases: [string, Buffer, string][] = [];
    const absurd = Buffer.from(raw);
    absurd.writeUInt32LE(0xfffffff0, at[k]);
    cases.push(["absurd", absurd, "a frame length of 4294967280 bytes, longer than any frame the loader writes"]);
    // what a crash leaves of a file whose blocks were allocated but not written
    cases.push(["zeroed", Buffer.concat([raw.subarray(0, at[k]), Buffer.alloc(raw.length - at[k])]), "a frame length of 0 bytes, shorter than the loader's frame header"]);
    const typed = Buffer.from(raw);
    typed[at[k] + 4] = 0x56;
    cases.push(["typed", typed, "a frame of type 86, not one the loader writes"]);
    for (const [name, bytes, why] of cases) {
      const b = bad(name, bytes);
      const n = bytes.length - at[k];
      expect(b.p.status).toBe(0);
      expect(b.unparsed).toEqual([{ type: "unparsed", file: b.f, line: k + 1, offset: at[k], text: bytes.toString("hex", at[k], at[k] + 64),
        reason: `${why}: the ${n} bytes from here to the end are not read`, truncated: n }]);
      expect(b.end).toMatchObject({ type: "end", lines: k, complete: false,
        incomplete: ["1 frame of the eBPF loader not understood", "the eBPF loader's output ends before its end frame"] });
      expect(b.p.stderr).toMatch(new RegExp(`^trace-parse: ${b.f}: 1 frame of the eBPF loader not understood\n`));
      expect(b.strict.status).toBe(2);
      expect(b.strict.stderr).toBe(`trace-parse: ${b.f}: byte ${at[k]} (frame ${k + 1}): ${why}: the ${n} bytes from here to the end are not read\n`);
    }
  });

  it("bytes after the end frame; input that is not the loader's; a frame format it does not know", () => {
    const after = bad("after", Buffer.concat([raw, Buffer.from("tail\n")]));
    expect(after.unparsed).toEqual([{ type: "unparsed", file: after.f, line: frames(raw).length + 1, offset: raw.length, text: Buffer.from("tail\n").toString("hex"),
      reason: "bytes after the loader's end frame (an input holds one run of the loader): the 5 bytes from here to the end are not read" }]);
    expect(after.end).toMatchObject({ complete: false, incomplete: ["1 frame of the eBPF loader not understood"] });
    expect(after.strict.status).toBe(2);

    const line = "execve(\"/bin/true\", [\"true\"], 0x7ffd /* 20 vars */) = 0\n";
    const text = run("trace-parse", ["--format", "ebpf", "-"], line);
    expect(text.status).toBe(0);
    expect(text.records().filter((x) => x.type === "unparsed")).toEqual([{ type: "unparsed", file: "-", line: 1, offset: 0, text: Buffer.from(line).toString("hex", 0, 64),
      reason: `not the leastpriv eBPF loader's output: it does not begin with the loader's ready frame: the ${line.length} bytes from here to the end are not read` }]);
    expect(text.records().at(-1)).toMatchObject({ complete: false, incomplete: ["1 frame of the eBPF loader not understood"] });

    const newer = Buffer.from(raw);
    newer.writeUInt32LE(99, 4 + 32);        // the ready frame's format (bpf/events.h lp_ready)
    writeFileSync(tmp + "/newer.raw", newer);
    for (const args of [[tmp + "/newer.raw"], ["--format", "ebpf", tmp + "/newer.raw"]]) {
      const p = run("trace-parse", args);
      expect(p.status).toBe(2);
      expect(p.stderr).toBe(`trace-parse: ${tmp}/newer.raw: frame format 99 of the eBPF loader: this trace-parse reads formats 1 and 2 (read it with the leastpriv version that wrote it)\n`);
    }
  });

  it("the frames are written as they come: read while the run goes on, and complete after ^C", async () => {
    const f = tmp + "/live.raw";
    const r = start(["--backend", "ebpf", "--raw", f, "--", "sh", "-c", "while :; do cat /etc/hostname >/dev/null; sleep 0.05; done"]);
    // the file holds the loop's calls before the run ends
    await until(() => { try { return statSync(f).size > 0 && run("trace-parse", [f]).stdout.includes('"/etc/hostname"'); } catch { return false; } }, 30000, "the loop's frames in the file");
    process.kill(r.pid, "SIGINT");
    const s = await r.done;
    expect(s.code).toBe(130);
    await nothingLeft(r);
    const p = run("trace-parse", [f]);
    expect(p.status).toBe(0);
    expect(body(p.records())).toEqual(body(r.records()));
    expect(p.records().at(-1)).toMatchObject({ type: "end", complete: true });
  }, 60000);

  it("events the ring had no room for: the file's end record counts them as the run's did", () => {
    // a 1 MB ring drained once a second, never early: a walk of /usr/share overflows it
    const f = tmp + "/lossy.raw";
    const r = run("trace-run", ["--backend", "ebpf", "--raw", f, "--", "/usr/bin/find", "/usr/share", "-name", "*.h"],
      undefined, { LEASTPRIV_EBPF_RING_MB: "1", LEASTPRIV_EBPF_TICK_MS: "1000", LEASTPRIV_EBPF_WAKE_MARK: String(1 << 20) });
    expect(r.status).toBe(0);
    const e = r.records().at(-1);
    expect(e.lost).toBeGreaterThan(0);
    const p = run("trace-parse", [f]);
    expect(p.status).toBe(0);
    expect(body(p.records())).toEqual(body(r.records()));
    expect(p.records().at(-1)).toEqual({ type: "end", lines: e.lines, records: e.records, unparsed: 0, lost: e.lost, lostKinds: e.lostKinds, complete: false, incomplete: e.incomplete });
  }, 60000);

  it("--raw that cannot be written: the run stopped, one line, exit 125, nothing left", async () => {
    const r = start(["--backend", "ebpf", "--raw", "/dev/full", "--", "sh", "-c", "while :; do cat /etc/hostname >/dev/null; sleep 0.05; done"]);
    const s = await r.done;
    expect(s.code).toBe(125);
    expect(r.stderr()).toBe("trace-run: --raw /dev/full: No space left on device (the trace was stopped)\n");
    expect(end(r)).toMatchObject({ type: "end", complete: false, incomplete: ["--raw /dev/full: No space left on device"] });
    await nothingLeft(r);
  }, 60000);
});
