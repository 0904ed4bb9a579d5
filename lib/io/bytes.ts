import { isUtf8 } from "node:buffer";

// Linux paths and strings are bytes. We carry them as JSON strings: valid UTF-8 decodes as usual and
// every byte that is not part of valid UTF-8 becomes the lone surrogate U+DC00+byte ("surrogateescape",
// as Python's os.fsdecode does), so any byte string round-trips exactly through JSON.

const utf8 = new TextDecoder("utf-8");

/** Decodes bytes as UTF-8, escaping invalid bytes to U+DC80..U+DCFF. */
export function decodeBytes(b: Uint8Array, start = 0, end = b.length): string {
  const view = b.subarray(start, end);
  // valid UTF-8 (the common case) decodes natively; checking first is much cheaper than catching
  return isUtf8(view) ? utf8.decode(view) : decodeSlow(view);
}

function decodeSlow(b: Uint8Array): string {
  let out = "";
  let i = 0;
  const end = b.length;
  while (i < end) {
    const c = b[i];
    if (c < 0x80) { out += String.fromCharCode(c); i++; continue; }
    const n = utf8Len(b, i, end);
    if (n === 0) { out += String.fromCharCode(0xdc00 + c); i++; }
    else { out += utf8.decode(b.subarray(i, i + n)); i += n; }
  }
  return out;
}

/** Length of the valid UTF-8 sequence starting at i (2–4 bytes), or 0 when it is not one. */
function utf8Len(b: Uint8Array, i: number, end: number): number {
  const c = b[i];
  let n: number, min: number;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; min = 0x10000; }
  else return 0;
  if (i + n > end) return 0;
  let cp = c & (n === 2 ? 0x1f : n === 3 ? 0x0f : 0x07);
  for (let k = 1; k < n; k++) {
    const d = b[i + k];
    if ((d & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (d & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

/** The exact bytes a decoded string stands for (inverse of decodeBytes). */
export function encodeBytes(s: string): Buffer {
  const parts: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (u < 0x80) { parts.push(u); continue; }
    if (u >= 0xdc80 && u <= 0xdcff) { parts.push(u - 0xdc00); continue; }
    let cp = u;
    if (u >= 0xd800 && u <= 0xdbff && i + 1 < s.length) {
      const v = s.charCodeAt(i + 1);
      if (v >= 0xdc00 && v <= 0xdfff) { cp = 0x10000 + ((u - 0xd800) << 10) + (v - 0xdc00); i++; }
    }
    for (const x of Buffer.from(String.fromCodePoint(cp), "utf8")) parts.push(x);
  }
  return Buffer.from(parts);
}

const ESC: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, f: 12, a: 7, b: 8, e: 27, "\\": 92, '"': 34, "'": 39, "?": 63 };

/**
 * Decodes the text strace printed for a string (without its quotes): C escapes \n \t \\ \" …, octal
 * \NNN and hex \xHH, as printed by default, with -x and with -xx.
 */
export function unescapeC(s: string, start = 0, end = s.length): string {
  let hasEsc = false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 || c > 0x7e) { hasEsc = true; break; }
  }
  if (!hasEsc) return s.slice(start, end);
  const bytes = new Uint8Array(end - start);   // escapes only shrink
  let n = 0, high = false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c !== 92 || i + 1 >= end) {
      // strace only prints ASCII; anything else is carried as its UTF-8 bytes
      if (c < 0x80) bytes[n++] = c;
      else { high = true; for (const x of encodeBytes(s[i])) bytes[n++] = x; }
      continue;
    }
    const d = s.charCodeAt(i + 1);
    let v: number;
    if (d === 120 /* x */ && i + 2 < end && isHex(s.charCodeAt(i + 2))) {
      v = hexVal(s.charCodeAt(i + 2)); i += 2;
      if (i + 1 < end && isHex(s.charCodeAt(i + 1))) { v = v * 16 + hexVal(s.charCodeAt(i + 1)); i++; }
    } else if (d >= 48 && d <= 55) {
      v = d - 48; i++;
      for (let m = 1; m < 3 && i + 1 < end; m++) {
        const e = s.charCodeAt(i + 1);
        if (e < 48 || e > 55) break;
        v = v * 8 + (e - 48); i++;
      }
      v &= 0xff;
    } else {
      const e = ESC[s[i + 1]];
      if (e === undefined) { bytes[n++] = 92; continue; }   // an unknown escape stays as written
      v = e; i++;
    }
    if (v >= 0x80) high = true;
    bytes[n++] = v;
  }
  if (!high) return latin1(bytes, n);
  return decodeBytes(bytes, 0, n);
}

/** ASCII bytes to a string, in slices small enough for fromCharCode's argument limit. */
function latin1(b: Uint8Array, n: number): string {
  let out = "";
  for (let i = 0; i < n; i += 8192) out += String.fromCharCode.apply(null, b.subarray(i, Math.min(n, i + 8192)) as unknown as number[]);
  return out;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}
function hexVal(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87;
}
