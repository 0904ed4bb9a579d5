// The pure grammar, line by line; inputs are lines taken from the real captures.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseCall, parseLine } from "../../lib/strace/line.js";
import { parseArgs, parseSocket } from "../../lib/strace/values.js";
import { Assembler } from "../../lib/strace/assemble.js";
import { encodeBytes } from "../../lib/io/bytes.js";
import { LineSplitter } from "../../lib/io/lines.js";
import type { TraceRecord } from "../../lib/io/records.js";
import { fixtureLines, fixtureNames, parseText } from "../helpers.js";

const lineOf = (file: string, re: RegExp) => fixtureLines(file).find((l) => re.test(l))!;

describe("prefixes", () => {
  it("[pid N], PID<comm>, timestamps, -n and -i", () => {
    expect(parseLine(lineOf("stderr.strace", /^\[pid  2417\] set_robust_list/))).toMatchObject({ t: "unfinished", pfx: { pid: 2417 } });
    expect(parseLine(lineOf("decode-comm.strace", /^2451<sh> brk/))).toMatchObject({ t: "call", pfx: { pid: 2451, comm: "sh" } });
    expect(parseLine(lineOf("ttt.strace", /execve/))).toMatchObject({ pfx: { pid: 2424, ts: "1795862832.098498" } });
    expect(parseLine(lineOf("n-i.strace", /execve/))).toMatchObject({ t: "call", name: "execve", pfx: { sysno: 59, ip: "00007f729cebead7" } });
    expect(parseLine(lineOf("r.strace", /brk/))).toMatchObject({ t: "call", pfx: { pid: null, ts: "0.001287" } });
  });
  it("not strace", () => {
    for (const l of ["hello world", "12345", "[pid x] foo()", "--- nothing", "+++ what +++", "<... read resumed"]) {
      expect(parseLine(l).t).toBe("bad");
    }
  });
});

describe("values", () => {
  it("structures, arrays, flags, comments, sigsets", () => {
    const l = lineOf("erestartsys.strace", /setitimer/);
    const p = parseCall(l.slice(l.indexOf("setitimer")), "setitimer".length);
    expect(p.args).toEqual(["ITIMER_REAL", { it_interval: { tv_sec: 0, tv_usec: 0 }, it_value: { tv_sec: 0, tv_usec: 200000 } },
      { it_interval: { tv_sec: 0, tv_usec: 0 }, it_value: { tv_sec: 0, tv_usec: 0 } }]);
    expect(p.ret).toBe(0);
    expect(parseArgs("SIG_SETMASK, ~[RTMIN RT_1], NULL, 8)", 0).args).toEqual(["SIG_SETMASK", { not: ["RTMIN", "RT_1"] }, null, 8]);
    expect(parseArgs("[INT QUIT], [])", 0).args).toEqual([["INT", "QUIT"], []]);
  });
  it("sockaddrs of each family", () => {
    const b = lineOf("priv.strace", /bind\(/);
    const v4 = parseCall(b.slice(b.indexOf("bind")), 4).args[1];
    expect(v4).toEqual({ sa_family: "AF_INET", sin_port: 80, sin_addr: "127.0.0.1" });
    const pk = lineOf("net-msg.strace", /bind\(4/);
    expect(parseCall(pk.slice(pk.indexOf("bind")), 4).args[1]).toMatchObject({ sa_family: "AF_PACKET", sll_ifindex: 'if_nametoindex("lo")', sll_pkttype: "PACKET_HOST" });
    const l = lineOf("net-udp6.strace", /bind/);
    const v6 = parseCall(l.slice(l.indexOf("bind")), 4).args[1];
    expect(v6).toEqual({ sa_family: "AF_INET6", sin6_port: 0, sin6_flowinfo: 0, sin6_addr: "::1", sin6_scope_id: 0 });
    const nl = parseCall(lineOf("net-netns.strace", /bind\(3<NETLINK/).replace(/^\d+ +/, ""), 4).args[1];
    expect(nl).toEqual({ sa_family: "AF_NETLINK", nl_pid: 0, nl_groups: "00000000" });
  });
  it("socket annotations", () => {
    expect(parseSocket("TCP", "127.0.0.1:35461->127.0.0.1:35952")).toEqual({ proto: "TCP", local: { ip: "127.0.0.1", port: 35461 }, peer: { ip: "127.0.0.1", port: 35952 } });
    expect(parseSocket("UDPv6", "[::1]:46436")).toEqual({ proto: "UDPv6", local: { ip: "::1", port: 46436 } });
    expect(parseSocket("UNIX-STREAM", '6476->6475,"/tmp/s"')).toEqual({ proto: "UNIX-STREAM", inode: 6476, peerInode: 6475, path: "/tmp/s" });
    expect(parseSocket("TCPv6", "39657")).toEqual({ proto: "TCPv6", inode: 39657 });
  });
  it("msghdr and iovec", () => {
    const m = lineOf("net-msg.strace", /sendmsg/);
    const a = parseCall(m.slice(m.indexOf("sendmsg")), 7).args;
    expect(a[1]).toMatchObject({ msg_name: { sa_family: "AF_INET", sin_addr: "127.0.0.1" }, msg_iov: [{ iov_base: "ab", iov_len: 2 }, { iov_base: "cd", iov_len: 2 }], msg_iovlen: 2 });
    const w = lineOf("net-msg.strace", /writev/);
    expect(parseCall(w.slice(w.indexOf("writev")), 6).args[1]).toEqual([{ iov_base: "x", iov_len: 1 }, { iov_base: "y\n", iov_len: 2 }]);
  });
  it("a cut-off argument list is not closed, and does not throw", () => {
    expect(parseArgs('"abc", {a=1, b=[1, 2', 0)).toMatchObject({ closed: false });
  });
});

describe("no input crashes the parser, every line is accounted for", () => {
  const real = fixtureNames().flatMap((n) => fixtureLines(n).slice(0, 60));
  it("random text", () => {
    fc.assert(fc.property(fc.array(fc.string({ maxLength: 120 }), { maxLength: 20 }), (strings) => {
      const text = strings.map((l) => l.replace(/[\r\n]/g, " ")).join("\n");
      const { recs, counts } = parseCounted(Buffer.from(text, "utf8"));
      const lines = text.split("\n").map((l) => Buffer.from(l, "utf8"));
      if (lines.at(-1)!.length === 0) lines.pop();            // after the last LF: no line
      accounted(recs, counts, lines);
    }), { numRuns: 500 });
  });
  it("real lines cut, spliced and shuffled", () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(real.length - 1), fc.nat(400), fc.boolean()), { minLength: 1, maxLength: 30 }), (picks) => {
      const lines = picks.map(([i, cut, whole]) => (whole ? real[i] : real[i].slice(0, cut)));
      const recs = parseText(lines.join("\n") + "\n");
      // every non-blank line is a record, part of a joined record, a table rule, or attached to a call
      const unparsed = recs.filter((r) => r.type === "unparsed").length;
      expect(unparsed).toBeLessThanOrEqual(lines.length);
      const seen = new Set<number>();
      for (const r of recs) if (r.type === "unparsed") {
        expect(r.line).toBeGreaterThanOrEqual(1);
        expect(r.line).toBeLessThanOrEqual(lines.length);
        expect(seen.has(r.line)).toBe(false);
        seen.add(r.line);
        // a line strace's own message was spliced into is mended with the next; any other keeps its text
        if (!lines.some((l) => l.includes("strace: "))) expect(r.text).toBe(lines[r.line - 1]);
      }
    }), { numRuns: 500 });
  });
  it("bytes", () => {
    // bytes near a newline and outside UTF-8 are the ones that break a line splitter or a decoder
    const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(10, 13, 0x80, 0xc3, 0xe9, 0xff));
    fc.assert(fc.property(fc.array(byte, { maxLength: 400 }), (bytes) => {
      const b = Buffer.from(bytes);
      const { recs, counts } = parseCounted(b);
      // a line ends with LF or CRLF; the last one may lack its LF (and keeps no CR before the end)
      const lines: Buffer[] = [];
      for (let start = 0; start < b.length;) {
        let nl = b.indexOf(10, start);
        if (nl < 0) nl = b.length;
        const end = nl > start && b[nl - 1] === 13 ? nl - 1 : nl;
        lines.push(b.subarray(start, end));
        start = nl + 1;
      }
      accounted(recs, counts, lines);
    }), { numRuns: 500 });
  });
});

/** Parses bytes as trace-parse does, keeping the assembler's counts (what the `end` record says). */
function parseCounted(b: Buffer): { recs: TraceRecord[]; counts: { lines: number; records: number; unparsed: number } } {
  const recs: TraceRecord[] = [];
  const asm = new Assembler((r) => recs.push(r));
  asm.startFile("-", null);
  const split = new LineSplitter();
  for (const l of [...split.push(b), ...split.end()]) asm.line(l.text, l.no, l.fullLength);
  asm.end();
  return { recs, counts: asm.counts };
}

const TYPES = new Set(["syscall", "signal", "exit", "info", "count", "unparsed"]);

/**
 * Every line is counted, every record is of a known type and survives JSON, and every line that
 * is not understood is one `unparsed` record with its line number and its exact bytes.
 */
function accounted(recs: TraceRecord[], counts: { lines: number; unparsed: number }, lines: Buffer[]): void {
  const n = lines.length;
  expect(counts.lines).toBe(n);
  for (const r of recs) expect(TYPES.has(r.type), r.type).toBe(true);
  expect(JSON.parse(JSON.stringify(recs))).toEqual(recs);
  const unparsed = recs.filter((r) => r.type === "unparsed");
  expect(counts.unparsed).toBe(unparsed.length);
  const seen = new Set<number>();
  const spliced = lines.some((l) => l.includes("strace: "));
  for (const r of unparsed) {
    expect(r.line).toBeGreaterThanOrEqual(1);
    expect(r.line).toBeLessThanOrEqual(n);
    expect(seen.has(r.line)).toBe(false);
    seen.add(r.line);
    if (!spliced) expect(encodeBytes(r.text).equals(lines[r.line - 1]), `line ${r.line}`).toBe(true);
  }
  // a line of words, which no strace output looks like, is never dropped
  lines.forEach((l, i) => { if (/^[a-z]+( [a-z]+)*$/i.test(l.toString("latin1"))) expect(seen.has(i + 1), `line ${i + 1}`).toBe(true); });
}
