// The line splitter: CRLF ends a line as LF does, wherever the chunks of the input break.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { LineSplitter } from "../../lib/io/lines.js";
import { FIX, parseText } from "../helpers.js";

function split(chunks: Buffer[], max?: number): string[] {
  const s = new LineSplitter(max);
  const out: string[] = [];
  for (const c of chunks) for (const l of s.push(c)) out.push(l.text);
  for (const l of s.end()) out.push(l.text);
  return out;
}

describe("CRLF line ends", () => {
  const lf = readFileSync(FIX + "pipeline.strace");
  const crlf = Buffer.from(lf.toString("latin1").replace(/\n/g, "\r\n"), "latin1");

  it("a CRLF copy of a real log splits into the same lines, at any chunk boundary", () => {
    const want = split([lf]);
    expect(split([crlf])).toEqual(want);
    // chunks that break between CR and LF, and inside lines, and one byte at a time for a stretch
    const cuts: Buffer[] = [];
    for (let i = 0; i < crlf.length;) {
      const cr = crlf.indexOf(13, i);
      const n = cr >= 0 && cr < i + 5000 ? cr + 1 - i : 4099;
      cuts.push(crlf.subarray(i, i + n));
      i += n;
    }
    expect(cuts.length).toBeGreaterThan(100);
    expect(split(cuts)).toEqual(want);
    const head = crlf.subarray(0, crlf.indexOf(10, 3000) + 1);
    expect(split([...head].map((b) => Buffer.from([b])))).toEqual(want.slice(0, split([head]).length));
    // a last line without its end, and one that ends with CRLF, are the same
    expect(split([Buffer.from("a\r\nb")])).toEqual(["a", "b"]);
    expect(split([Buffer.from("a\r\nb\r\n")])).toEqual(["a", "b"]);
    // a line longer than a 64 KiB piece, and one carried over to the next chunk
    const long = Buffer.from("x".repeat(70000) + "\r\nshort\r\n");
    expect(split([long.subarray(0, 70000), long.subarray(70000)])).toEqual(["x".repeat(70000), "short"]);
  });

  it("records of a CRLF log are those of the LF log: no \\r in any field", () => {
    const a = parseText(lf, {}, "pipeline.strace"), b = parseText(crlf, {}, "pipeline.strace");
    expect(b).toEqual(a);
    expect(b.filter((r) => r.type === "syscall" && /\r/.test(String(r.ret) + (r.retnote ?? "")))).toEqual([]);
  });
});
