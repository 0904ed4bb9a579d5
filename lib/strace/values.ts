// The grammar of strace's argument and return values: strings, numbers, named constants and flag
// sets, structures, arrays, in/out pairs (=>), comments and -y/-yy/-Y annotations. A hand-written
// scanner over char codes; pure, no state between calls. Nesting is bounded (MAX_NESTING), so that no
// line, however hostile, runs the scanner out of stack.

import { unescapeC } from "../io/bytes.js";
import type { Json } from "../io/records.js";

const QUOTE = 34, COMMA = 44, LPAREN = 40, RPAREN = 41, LBRACK = 91, RBRACK = 93, LBRACE = 123,
  RBRACE = 125, SPACE = 32, LT = 60, GT = 62, EQ = 61, SLASH = 47, STAR = 42, BSLASH = 92, DOT = 46,
  TILDE = 126, AT = 64, MINUS = 45;

export const DELETED = "(deleted)";

/** Deepest nesting of [ ], { } and ( ) lists taken: strace's deepest (netlink messages in an iovec)
 *  is about ten. A deeper line is not a value of strace's; the caller reports it (`tooDeep`). */
export const MAX_NESTING = 32;

export interface ArgsResult {
  args: Json[];
  end: number;          // index just past the closing ")" (or s.length when it was missing)
  closed: boolean;      // false: the list ran to the end of the text (a cut-off or orphaned line)
  tooDeep: boolean;     // nested deeper than MAX_NESTING: the values are not usable
}

/** Parses an argument list starting just after "(" up to its matching ")". */
export function parseArgs(s: string, start: number, end = s.length): ArgsResult {
  const p = new Scanner(s, start, end);
  const args = p.list(RPAREN, false) as Json[];
  return { args, end: p.i, closed: p.closed, tooDeep: p.tooDeep };
}

/** Parses one value, e.g. a return value text "3</etc/passwd>" or "0x7f…". */
export function parseValue(s: string, start = 0, end = s.length): { value: Json; end: number; tooDeep: boolean } {
  const p = new Scanner(s, start, end);
  const value = p.value();
  return { value, end: p.i, tooDeep: p.tooDeep };
}

class Scanner {
  i: number;
  closed = true;
  tooDeep = false;
  private depth = 0;
  constructor(readonly s: string, start: number, readonly end: number) { this.i = start; }

  private spaces(): void {
    const s = this.s;
    while (this.i < this.end && s.charCodeAt(this.i) === SPACE) this.i++;
  }

  /** Elements up to `close`; structures collect key=value pairs into an object. */
  list(close: number, struct: boolean): Json[] | { [k: string]: Json } {
    const s = this.s;
    const arr: Json[] = [];
    const obj: { [k: string]: Json } = {};
    if (this.depth >= MAX_NESTING) {
      // give up on the rest of the text: every enclosing list then ends at once, without recursing further
      this.tooDeep = true; this.closed = false; this.i = this.end;
      return struct ? obj : arr;
    }
    this.depth++;
    let pos = 0;
    for (;;) {
      this.spaces();
      if (this.i >= this.end) { this.closed = false; break; }
      const c = s.charCodeAt(this.i);
      if (c === close) { this.i++; break; }
      if (c === COMMA) { this.i++; continue; }
      if (c === RPAREN || c === RBRACK || c === RBRACE) { this.i++; this.closed = false; break; } // mismatched: end here
      let key: string | undefined;
      if (struct) key = this.key();
      let v = this.value();
      this.spaces();
      if (this.at("=>")) { this.i += 2; this.spaces(); v = { in: v, out: this.value() }; this.spaces(); }
      if (this.at("/*")) { const comment = this.comment(); v = v === "" ? { comment } : { value: v, comment }; }
      if (struct) {
        if (key === undefined) {
          // inet_pton(AF_INET6, "::1", &sin6_addr) stands for the field it fills
          const f = v && typeof v === "object" && !Array.isArray(v) ? v.field : undefined;
          if (typeof f === "string") { key = f; v = (v as { [k: string]: Json }).ip; }
          else key = v === "..." ? "..." : "#" + pos;
        }
        obj[key] = key === "..." ? true : v;
      } else {
        // a signal set prints as "[INT QUIT]": split a bare run of upper-case names
        if (typeof v === "string" && v.indexOf(" ") > 0 && /^[A-Z0-9_ ]+$/.test(v)) arr.push(...v.split(" ").filter(Boolean));
        else arr.push(v);
      }
      pos++;
    }
    this.depth--;
    return struct ? obj : arr;
  }

  /** "name=" at the cursor (not "=="): returns the name and moves past "=". */
  private key(): string | undefined {
    const s = this.s;
    let j = this.i;
    while (j < this.end) {
      const c = s.charCodeAt(j);
      if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === DOT || c === LBRACK || c === RBRACK) j++;
      else break;
    }
    if (j > this.i && j < this.end && s.charCodeAt(j) === EQ && s.charCodeAt(j + 1) !== EQ) {
      const k = s.slice(this.i, j);
      this.i = j + 1;
      return k;
    }
    return undefined;
  }

  private at(t: string): boolean {
    return this.s.startsWith(t, this.i);
  }

  private comment(): string {
    const e = this.s.indexOf("*/", this.i + 2);
    const stop = e < 0 || e > this.end ? this.end : e;
    const text = this.s.slice(this.i + 2, stop).trim();
    this.i = e < 0 ? this.end : Math.min(this.end, e + 2);
    return text;
  }

  value(): Json {
    this.spaces();
    if (this.i >= this.end) return "";
    const s = this.s;
    const c = s.charCodeAt(this.i);
    if (c === QUOTE) return this.str();
    if (c === LBRACK) { this.i++; return this.list(RBRACK, false) as Json[]; }
    if (c === LBRACE) { this.i++; return this.list(RBRACE, true) as { [k: string]: Json }; }
    if (c === TILDE && s.charCodeAt(this.i + 1) === LBRACK) { this.i += 2; return { not: this.list(RBRACK, false) as Json[] }; }
    if (c === AT && s.charCodeAt(this.i + 1) === QUOTE) {
      this.i++;
      const v = this.str();
      return { abstract: typeof v === "string" ? v : (v as any).str };
    }
    if (c === DOT && this.at("...")) { this.i += 3; return "..."; }
    if (c === SLASH && s.charCodeAt(this.i + 1) === STAR) return { comment: this.comment() };
    return this.scalar();
  }

  private str(): Json {
    const s = this.s;
    const start = ++this.i;
    let j = start;
    while (j < this.end) {
      const c = s.charCodeAt(j);
      if (c === BSLASH) { j += 2; continue; }
      if (c === QUOTE) break;
      j++;
    }
    if (j >= this.end) { this.i = this.end; this.closed = false; return { str: unescapeC(s, start, Math.min(j, this.end)), truncated: true }; }
    const text = unescapeC(s, start, j);
    this.i = j + 1;
    if (this.at("...")) { this.i += 3; return { str: text, truncated: true }; }
    return text;
  }

  /** A bare expression: number, constant, flag set, function-like form; may carry an <annotation>. */
  private scalar(): Json {
    const s = this.s;
    const start = this.i;
    let depth = 0;
    let j = this.i;
    for (; j < this.end; j++) {
      const c = s.charCodeAt(j);
      if (c === QUOTE) {                       // a string inside inet_addr("…")
        j++;
        while (j < this.end && s.charCodeAt(j) !== QUOTE) { if (s.charCodeAt(j) === BSLASH) j++; j++; }
        continue;
      }
      if (c === LPAREN) { depth++; continue; }
      if (depth > 0) { if (c === RPAREN) depth--; continue; }
      if (c === COMMA || c === RPAREN || c === RBRACE || c === RBRACK) break;
      if (c === LT) {
        if (s.charCodeAt(j + 1) === LT) { j++; continue; }   // 1<<CAP_CHOWN: a shift, not an annotation
        if (j > start) break;                                // 3</etc/passwd>
      }
      if (c === SPACE) {
        const d = s.charCodeAt(j + 1);
        if ((d === SLASH && s.charCodeAt(j + 2) === STAR) || (d === EQ && s.charCodeAt(j + 2) === GT)) break;
      }
    }
    let k = j;
    while (k > start && s.charCodeAt(k - 1) === SPACE) k--;
    this.i = j;
    const text = s.slice(start, k);
    if (j < this.end && s.charCodeAt(j) === LT) {
      const v = annotate(scalarValue(text), this.annotation());
      // -yy prints "3</tmp/#123>(deleted)" for a file with no name left (unlinked, O_TMPFILE, memfd)
      if (this.s.startsWith(DELETED, this.i) && this.i + DELETED.length <= this.end) {
        this.i += DELETED.length;
        if (v && typeof v === "object" && !Array.isArray(v) && "path" in v) (v as { [k: string]: Json }).deleted = true;
      }
      return v;
    }
    return scalarValue(text);
  }

  /** The text between "<" and its matching ">", minding nested <…>, […] and quotes. */
  private annotation(): string {
    const s = this.s;
    const start = ++this.i;
    let angle = 1, square = 0;
    let j = start;
    const path = s.charCodeAt(start) === SLASH;        // its "<>" are escaped, its "[" and quotes are a name's
    for (; j < this.end; j++) {
      const c = s.charCodeAt(j);
      if (c === BSLASH) { j++; continue; }
      if (path) { if (c === LT) angle++; else if (c === GT && --angle === 0) break; continue; }
      if (c === QUOTE) { j++; while (j < this.end && s.charCodeAt(j) !== QUOTE) { if (s.charCodeAt(j) === BSLASH) j++; j++; } continue; }
      if (c === LBRACK) square++;
      else if (c === RBRACK) square--;
      else if (square <= 0) {
        if (c === LT) angle++;
        else if (c === GT && --angle === 0) break;
      }
    }
    this.i = Math.min(this.end, j + 1);
    return s.slice(start, Math.min(j, this.end));
  }
}

/** Decimal integers within the safe range become numbers; everything else keeps strace's text. */
export function scalarValue(t: string): Json {
  const n = t.length;
  if (n === 0) return "";
  let i = t.charCodeAt(0) === MINUS ? 1 : 0;
  if (i < n && n - i <= 15) {
    const first = t.charCodeAt(i);
    if (first >= 48 && first <= 57 && !(first === 48 && n - i > 1)) {
      let all = true;
      for (let k = i + 1; k < n; k++) { const c = t.charCodeAt(k); if (c < 48 || c > 57) { all = false; break; } }
      if (all) return Number(t);
    }
  }
  if (t === "NULL") return null;
  const c0 = t.charCodeAt(0);
  if (c0 === 104 && (t.startsWith("htons(") || t.startsWith("htonl("))) {
    const v = scalarValue(t.slice(6, -1));
    if (typeof v === "number") return v;
  }
  if (c0 === 105) {
    if (t.startsWith("inet_addr(\"")) return t.slice(11, -2);
    if (t.startsWith("inet_pton(")) {
      // inet_pton(AF_INET6, "::1", &sin6_addr)
      const q1 = t.indexOf('"'), q2 = t.indexOf('"', q1 + 1), amp = t.lastIndexOf("&");
      if (q1 > 0 && q2 > q1) {
        const ip = t.slice(q1 + 1, q2);
        return amp > q2 ? { field: t.slice(amp + 1, -1), ip } : ip;
      }
    }
  }
  return t;
}

/** Turns "N<annotation>" into {fd, path|sock|obj} or, for -Y comm names, {pid, comm}. */
export function annotate(base: Json, ann: string): Json {
  const c = ann.charCodeAt(0);
  if (c === SLASH) {
    // "/dev/null<char 1:3>": the path is escaped, so a literal "<" only starts the device part
    const lt = ann.indexOf("<");
    if (lt > 0 && ann.endsWith(">")) return { fd: base, path: unescapeC(ann, 0, lt), dev: ann.slice(lt + 1, -1) };
    return { fd: base, path: unescapeC(ann) };
  }
  const colon = ann.indexOf(":");
  if (colon > 0 && /^[A-Za-z0-9_-]+$/.test(ann.slice(0, colon))) {
    const proto = ann.slice(0, colon);
    const inner = ann.charCodeAt(colon + 1) === LBRACK && ann.endsWith("]") ? ann.slice(colon + 2, -1) : ann.slice(colon + 1);
    if (/^[A-Z]/.test(proto) && proto !== "anon_inode") return { fd: base, sock: parseSocket(proto, inner) };
    return { fd: base, obj: ann };
  }
  return { pid: base, comm: ann };
}

/** The inside of a -yy socket annotation: "127.0.0.1:80->10.0.0.1:5000", "6476->6475,\"/path\"", "6526". */
export function parseSocket(proto: string, inner: string): { [k: string]: Json } {
  const out: { [k: string]: Json } = { proto };
  if (/^\d+$/.test(inner)) { out.inode = Number(inner); return out; }
  // "NETLINK:[ROUTE:1234]": the netlink protocol and the socket's port id (its pid, or one the kernel picked)
  const nl = proto === "NETLINK" ? /^([A-Z0-9_]+):(\d+)$/.exec(inner) : null;
  if (nl) { out.netlink = nl[1]; out.portid = Number(nl[2]); return out; }
  if (proto.startsWith("UNIX")) {
    let rest = inner;
    const q = rest.indexOf(',"');
    if (q >= 0) { out.path = unescapeC(rest, q + 2, rest.length - 1); rest = rest.slice(0, q); }
    const [a, b] = rest.split("->");
    if (/^\d+$/.test(a)) out.inode = Number(a);
    if (b !== undefined && /^\d+$/.test(b)) out.peerInode = Number(b);
    return out;
  }
  const [local, peer] = inner.split("->");
  const l = endpoint(local), p = peer === undefined ? undefined : endpoint(peer);
  if (l) out.local = l; else if (local) out.raw = inner;
  if (p) out.peer = p;
  return out;
}

function endpoint(t: string | undefined): { ip: string; port: number } | undefined {
  if (!t) return undefined;
  const colon = t.lastIndexOf(":");
  if (colon <= 0) return undefined;
  let ip = t.slice(0, colon);
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  const port = Number(t.slice(colon + 1));
  if (!Number.isInteger(port)) return undefined;
  return { ip, port };
}
