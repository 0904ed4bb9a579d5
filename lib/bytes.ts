// Linux paths and strings are bytes. We carry them as JSON strings: valid UTF-8 decodes as usual and
// every byte that is not part of valid UTF-8 becomes the lone surrogate U+DC00+byte ("surrogateescape",
// as Python's os.fsdecode does), so any byte string round-trips exactly through JSON.

/** Decodes bytes as UTF-8, escaping invalid bytes to U+DC80..U+DCFF. */
export function decodeBytes(b: Uint8Array, start = 0, end = b.length): string {
  let out = "";
  let i = start;
  let run = start;                     // start of a pending ASCII run
  while (i < end) {
    const c = b[i];
    if (c < 0x80) { i++; continue; }
    if (run < i) out += latin1(b, run, i);
    const n = utf8Len(b, i, end);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + c);
      i++;
    } else {
      out += Buffer.from(b.buffer, b.byteOffset + i, n).toString("utf8");
      i += n;
    }
    run = i;
  }
  if (run < end) out += latin1(b, run, end);
  return out;
}

function latin1(b: Uint8Array, s: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + s, e - s).toString("latin1");
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
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c !== 92 || i + 1 >= end) {
      // strace only prints ASCII; anything else is carried as its UTF-8 bytes
      if (c < 0x80) bytes[n++] = c;
      else { const enc = encodeBytes(s[i]); for (const x of enc) bytes[n++] = x; }
      continue;
    }
    const d = s[i + 1];
    if (d === "x") {
      let v = 0, k = i + 2, m = 0;
      while (m < 2 && k < end && isHex(s.charCodeAt(k))) { v = v * 16 + hexVal(s.charCodeAt(k)); k++; m++; }
      if (m === 0) { bytes[n++] = 92; continue; }
      bytes[n++] = v; i = k - 1; continue;
    }
    if (d >= "0" && d <= "7") {
      let v = 0, k = i + 1, m = 0;
      while (m < 3 && k < end && s.charCodeAt(k) >= 48 && s.charCodeAt(k) <= 55) { v = v * 8 + (s.charCodeAt(k) - 48); k++; m++; }
      bytes[n++] = v & 0xff; i = k - 1; continue;
    }
    const e = ESC[d];
    if (e !== undefined) { bytes[n++] = e; i++; continue; }
    bytes[n++] = 92;                    // an unknown escape stays as written
  }
  return decodeBytes(bytes, 0, n);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}
function hexVal(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87;
}
