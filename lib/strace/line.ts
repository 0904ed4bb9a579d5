// The grammar of one line of strace output: the prefix (pid, -Y comm, timestamp, -n, -i) and the
// body (a call, an unfinished or resumed half, a signal, an exit, strace's own message, a -e read/write
// hex dump, a -k stack frame, a -c summary row). Pure: one line in, one value out.

import { DELETED, MAX_NESTING, parseArgs, parseValue, scalarValue } from "./values.js";
import type { Json } from "../io/records.js";
import type { CallParts } from "../trace/resolver.js";

export interface Prefix {
  pid: number | null;
  comm?: string;
  ts?: string;           // the timestamp as printed
  sysno?: number;        // -n
  ip?: string;           // -i
}

export type ParsedLine =
  | { t: "call"; pfx: Prefix; name: string; body: string }             // body: from the name to the end
  | { t: "unfinished"; pfx: Prefix; name: string; head: string; detached: boolean } // head: "name(args" without the marker
  | { t: "resumed"; pfx: Prefix; name: string; rest: string }          // rest: text after "resumed>"
  | { t: "signal"; pfx: Prefix; signal: string; stopped: boolean; info?: Json }
  | { t: "exit"; pfx: Prefix; code?: number; signal?: string; core?: boolean; supersededBy?: number }
  | { t: "info"; pfx: Prefix; text: string }
  | { t: "dump"; hex: string }
  | { t: "stack"; frame: string }
  | { t: "count"; row: CountRow }
  | { t: "decor" }                                                    // summary header and rules
  | { t: "blank" }
  | { t: "bad"; reason: string };

export interface CountRow {
  syscall: string; calls: number; errors: number; seconds: number; percent: number; usecsPerCall: number;
}

const SPACE = 32, LBRACK = 91, RBRACK = 93, LT = 60, GT = 62, DOT = 46, COLON = 58, LPAREN = 40;

function isDigit(c: number): boolean { return c >= 48 && c <= 57; }
function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || (c >= 65 && c <= 90) || c === 63;
}

export function parseLine(line: string): ParsedLine {
  const n = line.length;
  if (n === 0) return { t: "blank" };
  const c0 = line.charCodeAt(0);
  if (c0 === SPACE) {
    if (line.startsWith(" | ")) return { t: "dump", hex: dumpHex(line) };
    if (line.startsWith(" > ")) return { t: "stack", frame: line.slice(3) };
  }
  if (c0 === 37 /* % */ && line.startsWith("% time")) return { t: "decor" };
  if (c0 === 45 /* - */ && /^-+ [- ]+$/.test(line)) return { t: "decor" };
  if (c0 === SPACE || isDigit(c0)) {
    const row = countRow(line);
    if (row) return { t: "count", row };
  }
  const pfx: Prefix = { pid: null };
  let i = prefix(line, pfx);
  if (i < 0) return { t: "bad", reason: "malformed prefix" };
  if (i >= n) return { t: "bad", reason: "prefix without a body" };
  const c = line.charCodeAt(i);
  if (c === 45 && line.startsWith("--- ", i)) return signal(line, i, pfx);
  if (c === 43 && line.startsWith("+++ ", i)) return exit(line, i, pfx);
  if (c === LT && line.startsWith("<... ", i)) {
    const r = line.indexOf(" resumed>", i + 5);
    if (r < 0) return { t: "bad", reason: "resumed line without 'resumed>'" };
    return { t: "resumed", pfx, name: line.slice(i + 5, r), rest: line.slice(r + 9) };
  }
  if (c === 115 && line.startsWith("strace: ", i)) return { t: "info", pfx, text: line.slice(i) };
  let j = i;
  while (j < n && isNameChar(line.charCodeAt(j))) j++;
  if (j === i || j >= n || line.charCodeAt(j) !== LPAREN) return { t: "bad", reason: "not an strace line" };
  const name = line.slice(i, j);
  if (line.charCodeAt(n - 1) === GT) {
    if (line.endsWith("<unfinished ...>")) return { t: "unfinished", pfx, name, head: trimMarker(line, i, n - 16), detached: false };
    if (line.endsWith("<detached ...>")) return { t: "unfinished", pfx, name, head: trimMarker(line, i, n - 14), detached: true };
  }
  return { t: "call", pfx, name, body: i === 0 ? line : line.slice(i) };
}

// strace writes "name(a, b <unfinished ...>" and "name(a,  <unfinished ...>": drop the one space it
// added before the marker, so that head + resumed text is the whole call again.
function trimMarker(line: string, start: number, end: number): string {
  if (end > start && line.charCodeAt(end - 1) === SPACE) end--;
  return line.slice(start, end);
}

/** Reads the prefix into pfx; returns the index of the body, or -1. */
function prefix(line: string, pfx: Prefix): number {
  const n = line.length;
  let i = 0;
  if (line.startsWith("[pid ")) {
    i = 5;
    while (i < n && line.charCodeAt(i) === SPACE) i++;
    const s = i;
    while (i < n && isDigit(line.charCodeAt(i))) i++;
    if (i === s) return -1;
    pfx.pid = Number(line.slice(s, i));
    if (line.charCodeAt(i) === LT) {
      const e = line.indexOf(">]", i);
      if (e < 0) return -1;
      pfx.comm = line.slice(i + 1, e);
      i = e + 1;
    }
    if (line.charCodeAt(i) !== RBRACK) return -1;
    i++;
  } else if (isDigit(line.charCodeAt(0))) {
    while (i < n && isDigit(line.charCodeAt(i))) i++;
    const d = line.charCodeAt(i);
    if (d === DOT || d === COLON) i = 0;                 // no pid: this is a timestamp
    else {
      pfx.pid = Number(line.slice(0, i));
      if (d === LT) {
        const e = line.indexOf("> ", i);
        if (e < 0) return -1;
        pfx.comm = line.slice(i + 1, e);
        i = e + 1;
      } else if (d !== SPACE) return -1;
    }
  }
  while (i < n && line.charCodeAt(i) === SPACE) i++;
  if (isDigit(line.charCodeAt(i))) {
    const s = i;
    while (i < n) {
      const c = line.charCodeAt(i);
      if (isDigit(c) || c === DOT || c === COLON) i++; else break;
    }
    if (line.charCodeAt(i) !== SPACE) return i === n ? -1 : s;  // a pid-less body that starts with a digit is not ours
    pfx.ts = line.slice(s, i);
    while (i < n && line.charCodeAt(i) === SPACE) i++;
  }
  // -n "[  59] " and -i "[00007f…] ", in either order
  while (line.charCodeAt(i) === LBRACK && !line.startsWith("[pid", i)) {
    const e = line.indexOf("] ", i);
    if (e < 0) break;
    const inner = line.slice(i + 1, e).trim();
    if (inner.length >= 8) pfx.ip = inner;
    else if (/^\d+$/.test(inner)) pfx.sysno = Number(inner);
    else break;
    i = e + 2;
  }
  return i;
}

function signal(line: string, i: number, pfx: Prefix): ParsedLine {
  const end = line.endsWith(" ---") ? line.length - 4 : line.length;
  const body = line.slice(i + 4, end);
  if (body.startsWith("stopped by ")) return { t: "signal", pfx, signal: body.slice(11), stopped: true };
  const sp = body.indexOf(" ");
  const sig = sp < 0 ? body : body.slice(0, sp);
  if (!/^SIG[A-Z0-9+]+$/.test(sig) && !/^[A-Z0-9_+]+$/.test(sig)) return { t: "bad", reason: "malformed signal line" };
  const out: ParsedLine = { t: "signal", pfx, signal: sig, stopped: false };
  if (sp > 0) {
    const v = parseValue(body, sp + 1);
    if (v.tooDeep) return { t: "bad", reason: `values nested deeper than ${MAX_NESTING} levels` };
    out.info = v.value;
  }
  return out;
}

function exit(line: string, i: number, pfx: Prefix): ParsedLine {
  const body = line.slice(i + 4, line.endsWith(" +++") ? line.length - 4 : line.length);
  let m: RegExpExecArray | null;
  if ((m = /^exited with (-?\d+)$/.exec(body))) return { t: "exit", pfx, code: Number(m[1]) };
  if ((m = /^killed by (\S+)( \(core dumped\))?$/.exec(body))) return { t: "exit", pfx, signal: m[1], core: !!m[2] };
  if ((m = /^superseded by execve in pid (\d+)$/.exec(body))) return { t: "exit", pfx, supersededBy: Number(m[1]) };
  return { t: "bad", reason: "malformed exit line" };
}

function dumpHex(line: string): string {
  // " | 00000  7f 45 4c 46 02 01 01 03  00 00 …  .ELF............ |": 16 pairs in a 49-column field
  const off = line.indexOf(" ", 3);
  if (off < 0) return "";
  const field = line.slice(off + 2, off + 2 + 49);
  let hex = "";
  for (const part of field.split(" ")) if (part.length === 2 && /^[0-9a-f]{2}$/.test(part)) hex += part;
  return hex;
}

const COUNT_ROW = /^ *(\d+\.\d+) +(\d+\.\d+) +(\d+) +(\d+) +(?:(\d+) +)?(\S+)$/;

function countRow(line: string): CountRow | undefined {
  if (line.indexOf("(") >= 0) return undefined;
  const m = COUNT_ROW.exec(line);
  if (!m) return undefined;
  return {
    percent: Number(m[1]), seconds: Number(m[2]), usecsPerCall: Number(m[3]), calls: Number(m[4]),
    errors: m[5] === undefined ? 0 : Number(m[5]), syscall: m[6],
  };
}

/** Parses "name(args) = ret ERRNO (msg) (note) <dur>" from its "(" onwards. */
export function parseCall(body: string, open: number): CallParts {
  const a = parseArgs(body, open + 1);
  const out: CallParts = { args: a.args, closed: a.closed, ret: null, hasRet: false };
  if (a.tooDeep) { out.tooDeep = true; return out; }
  const n = body.length;
  let i = a.end;
  while (i < n && body.charCodeAt(i) === SPACE) i++;
  if (body.charCodeAt(i) !== 61 /* = */) { out.closed = false; return out; }
  i++;
  while (i < n && body.charCodeAt(i) === SPACE) i++;
  out.hasRet = true;
  // the result token: up to a space, with an optional <annotation>
  const s = i;
  while (i < n) {
    const c = body.charCodeAt(i);
    if (c === SPACE) break;
    if (c === LT) { i = skipAngle(body, i); if (body.startsWith(DELETED, i)) i += DELETED.length; break; }
    i++;
  }
  const tok = body.slice(s, i);
  if (tok === "?") out.ret = null;
  else if (tok.indexOf("<") > 0) {
    const pv = parseValue(tok);
    if (pv.tooDeep) { out.tooDeep = true; return out; }
    const v = pv.value;
    out.retfd = v;
    const base = v && typeof v === "object" && !Array.isArray(v) ? (v.fd ?? v.pid) : v;
    out.ret = typeof base === "number" || typeof base === "string" ? base : tok;
  } else {
    const v = scalarValue(tok);
    out.ret = typeof v === "number" || typeof v === "string" ? v : tok;
  }
  // the rest: " ERRNO (message)", " (note)", " /* comment */", " <duration>", in that order
  const notes: string[] = [];
  for (;;) {
    while (i < n && body.charCodeAt(i) === SPACE) i++;
    if (i >= n) break;
    const c = body.charCodeAt(i);
    if (c === LT) {
      const e = body.indexOf(">", i);
      const d = Number(body.slice(i + 1, e < 0 ? n : e));
      if (!Number.isNaN(d)) out.dur = d;
      i = e < 0 ? n : e + 1;
    } else if (c === LPAREN) {
      const e = matchParen(body, i);
      const text = body.slice(i + 1, e);
      if (out.errno !== undefined && out.errmsg === undefined && notes.length === 0) out.errmsg = text;
      else notes.push(text);
      i = e + 1;
    } else if (c === 47 && body.charCodeAt(i + 1) === 42) {
      const e = body.indexOf("*/", i);
      notes.push(body.slice(i + 2, e < 0 ? n : e).trim());
      i = e < 0 ? n : e + 2;
    } else {
      let e = i;
      while (e < n && body.charCodeAt(e) !== SPACE) e++;
      const word = body.slice(i, e);
      if (out.errno === undefined && /^E[A-Z0-9_]+$/.test(word)) out.errno = word;
      else notes.push(word);
      i = e;
    }
  }
  if (notes.length) out.retnote = notes.join("; ");
  return out;
}

function skipAngle(s: string, i: number): number {
  let depth = 0, square = 0;
  // a path annotation has its "<" and ">" escaped (\74, \76) and may hold "[": only sockets' [a->b] nest
  const path = s.charCodeAt(i + 1) === 47;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) { i++; continue; }
    if (path) { if (c === LT) depth++; else if (c === GT && --depth === 0) return i + 1; continue; }
    if (c === LBRACK) square++;
    else if (c === RBRACK) square--;
    else if (square <= 0 && c === LT) depth++;
    else if (square <= 0 && c === GT && --depth === 0) return i + 1;
  }
  return s.length;
}

function matchParen(s: string, i: number): number {
  let depth = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === LPAREN) depth++;
    else if (c === 41 && --depth === 0) return i;
  }
  return s.length;
}
