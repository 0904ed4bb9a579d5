import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodeBytes, encodeBytes, unescapeC } from "../../lib/io/bytes.js";

describe("paths are bytes", () => {
  it("any byte string round-trips through decode, JSON and encode", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      const s = decodeBytes(b);
      const back = encodeBytes(JSON.parse(JSON.stringify(s)));
      expect(Buffer.compare(back, Buffer.from(b))).toBe(0);
    }), { numRuns: 2000 });
  });
  it("valid UTF-8 decodes as itself", () => {
    fc.assert(fc.property(fc.string({ unit: "grapheme", maxLength: 30 }), (s) => {
      expect(decodeBytes(Buffer.from(s, "utf8"))).toBe(s);
    }));
  });
  it("a stray byte becomes U+DC00+byte", () => {
    expect(decodeBytes(Buffer.from([0x61, 0xe9, 0x62]))).toBe("a\udce9b");
    expect(decodeBytes(Buffer.from([0xc3, 0xa9]))).toBe("é");
    expect(decodeBytes(Buffer.from([0xed, 0xa0, 0x80]))).toBe("\udced\udca0\udc80");  // an encoded surrogate is not UTF-8
  });
  it("strace's escapes: octal, hex, C", () => {
    expect(unescapeC("\\303\\251")).toBe("é");
    expect(unescapeC("\\x2f\\x65")).toBe("/e");
    expect(unescapeC("a\\0b")).toBe("a\x00b");
    expect(unescapeC("\\t\\n\\v\\f\\r\\\\\\\"")).toBe("\t\n\v\f\r\\\"");
    expect(unescapeC("\\1\\17\\177\\377")).toBe("\x01\x0f\x7f\udcff");
  });
  it("escaping by strace's rules, then unescaping, gives the bytes back", () => {
    const esc = (b: Uint8Array) => [...b].map((x) => x === 34 ? '\\"' : x === 92 ? "\\\\" : x >= 32 && x < 127 ? String.fromCharCode(x) : "\\" + x.toString(8).padStart(3, "0")).join("");
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      expect(Buffer.compare(encodeBytes(unescapeC(esc(b))), Buffer.from(b))).toBe(0);
    }), { numRuns: 2000 });
  });
});
