// The one way a traced string (a path, an argument, a peer name: chosen by the traced program, so
// hostile) gets into what the tools write for people and machines: terminal text, sh, systemd unit
// files, AppArmor profiles. Generators build lines with the tags below; a tag's literal text is ours,
// and every value put into it is rendered for its target, so no name can end a line, a quote or a rule.

import { isGlob, type Pattern } from "./pattern.js";

export type Target = "text" | "sh" | "systemd" | "apparmor";

// not exported: without it no other module can make a Rendered value, and the type checker says so
const KEY: unique symbol = Symbol("render");

/** Text in a target's syntax. Only this module makes one, so a value of this type is safe to write as it is. */
export class Rendered<T extends Target> {
  readonly text: string;
  readonly target: T;
  constructor(key: typeof KEY, target: T, text: string) {
    if (key !== KEY) throw new Error("a Rendered value is made by lib/render.ts only");
    this.target = target;
    this.text = text;
  }
}
const made = <T extends Target>(target: T, text: string) => new Rendered(KEY, target, text);

/** What a generator returns: its text, and the entries it refused to write (for the command to print). */
export interface Generated { text: string; warnings: string[] }

// ---- characters that must never reach a terminal or a line-based file raw --------------------------

// invisible or reordering characters (bidirectional overrides, zero-width, line separators): they make
// a reviewer read something other than what is there
const SNEAKY = /[\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/;

/** The code point at i is unsafe to show raw: C0, DEL, C1, an escaped raw byte, a lone surrogate, or SNEAKY. */
function unsafeAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  if (c >= 0xd800 && c <= 0xdfff) {
    // a valid pair is an ordinary character; a lone surrogate is a raw byte (U+DC80..U+DCFF) or junk
    if (c <= 0xdbff && i + 1 < s.length) { const d = s.charCodeAt(i + 1); if (d >= 0xdc00 && d <= 0xdfff) return false; }
    return true;
  }
  return c >= 0x0600 && SNEAKY.test(s[i]);
}

/** The bytes a code unit stands for: a raw byte for U+DC80..U+DCFF, else its UTF-8. */
function bytesAt(s: string, i: number): number[] {
  const c = s.charCodeAt(i);
  if (c >= 0xdc80 && c <= 0xdcff) return [c - 0xdc00];
  return [...Buffer.from(s[i], "utf8")];
}

const hex2 = (b: number) => b.toString(16).padStart(2, "0");
const oct3 = (b: number) => b.toString(8).padStart(3, "0");
const NAMED: { [c: string]: string } = { "\n": "\\n", "\t": "\\t", "\r": "\\r", "\v": "\\v", "\f": "\\f" };

/**
 * A string as text for a terminal, the way strace shows one: printable characters as they are, `\` as
 * `\\`, \n \t \r \v \f, other control bytes in octal (`\33`), bytes that are not UTF-8 and C1 controls
 * as `\xHH`, invisible and reordering characters as `\uHHHH`. No control byte survives.
 */
export function escapeText(s: string): string {
  let out = "", from = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch !== "\\" && !unsafeAt(s, i)) {
      if (s.charCodeAt(i) >= 0xd800 && s.charCodeAt(i) <= 0xdbff) i++;     // the pair's second half
      continue;
    }
    out += s.slice(from, i);
    from = i + 1;
    const c = s.charCodeAt(i);
    if (ch === "\\") out += "\\\\";
    else if (NAMED[ch]) out += NAMED[ch];
    else if (c < 0x20 || c === 0x7f) {
      // the shortest octal form, unless a digit follows that would read as part of it
      const next = s.charCodeAt(i + 1);
      out += "\\" + (next >= 48 && next <= 55 ? oct3(c) : c.toString(8));
    } else if ((c >= 0xdc80 && c <= 0xdcff) || (c >= 0x80 && c <= 0x9f)) out += bytesAt(s, i).map((b) => "\\x" + hex2(b)).join("");
    else out += "\\u" + c.toString(16).padStart(4, "0");
  }
  return out + s.slice(from);
}

// ---- values per target ----------------------------------------------------------------------------

/** A POSIX shell word: bare when only safe characters, else single-quoted (`'` as `'\''`); any byte is exact. */
export function shWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'";
}

/**
 * A systemd value word (systemd.syntax(7) QUOTING): bare when safe, else double-quoted with C escapes;
 * `%` doubled, since specifiers are expanded after unquoting (an escape must never make a `%`).
 * `prefix` (ReadWritePaths='s "-": ignore a missing path) goes inside the quotes.
 */
export function unitWord(s: string, prefix: "" | "-" = ""): Rendered<"systemd"> {
  const all = prefix + s;
  if (/^[A-Za-z0-9_@+=:,./-]+$/.test(all)) return made("systemd", all);
  let out = "";
  for (let i = 0; i < all.length; i++) {
    const ch = all[i];
    if (ch === "\\" || ch === '"' || ch === "'") out += "\\" + ch;
    else if (ch === "%") out += "%%";
    else if (unsafeAt(all, i)) out += bytesAt(all, i).map((b) => "\\x" + hex2(b)).join("");
    else { out += ch; if (all.charCodeAt(i) >= 0xd800 && all.charCodeAt(i) <= 0xdbff) out += all[++i]; }
  }
  return made("systemd", `"${out}"`);
}

/** A name systemd takes without quoting (User=, SupplementaryGroups=, system call names): undefined when not one. */
export function unitName(s: string): Rendered<"systemd"> | undefined {
  return /^[A-Za-z0-9_][A-Za-z0-9_.@:-]*\$?$/.test(s) ? made("systemd", s) : undefined;
}

const AA_GLOB: { [name: string]: string } = { "**": "**", pid: "@{pid}", tid: "@{tid}", n: "[0-9]*", fd: "[0-9]*" };

/**
 * A path, or a pattern whose glob parts the tools made, as an AppArmor path expression (apparmor.d(5)):
 * every character of a literal part stands for itself — glob characters (`* ? [ ] { } ^ @`) and `"`
 * escaped; `\`, control and non-UTF-8 bytes in octal — and only the glob parts are globs.
 */
export function aaPath(p: string | Pattern): Rendered<"apparmor"> {
  const parts = typeof p === "string" ? [p] : p;
  let out = "", quote = false;
  for (const x of parts) {
    if (isGlob(x)) { out += AA_GLOB[x.glob] ?? "*"; continue; }
    for (let i = 0; i < x.length; i++) {
      const ch = x[i];
      if (/[A-Za-z0-9_./+-]/.test(ch)) { out += ch; continue; }
      quote = true;
      // a backslash in octal: apparmor_parser's lexer reads `\\"` as an escaped quote when another
      // quote follows later in the file, and the rule then runs on into the next line
      if (ch === "\\") out += "\\134";
      else if (/["*?[\]{}^@]/.test(ch)) out += "\\" + ch;
      else if (unsafeAt(x, i)) out += bytesAt(x, i).map((b) => "\\" + oct3(b)).join("");
      else { out += ch; if (x.charCodeAt(i) >= 0xd800 && x.charCodeAt(i) <= 0xdbff) out += x[++i]; }
    }
  }
  return made("apparmor", quote ? `"${out}"` : out);
}

/** A bare AppArmor word (a profile name, a network family): undefined when the name is not one. */
export function aaName(s: string): Rendered<"apparmor"> | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/.test(s) ? made("apparmor", s) : undefined;
}

// ---- tags: our literal text, with values rendered for the target ---------------------------------

type Value<T extends Target> = string | number | Rendered<T>;

function piece<T extends Target>(target: T, v: Value<T> | Rendered<"text">, str: (s: string) => string): string {
  if (typeof v === "string") return str(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error("render: a number that is not finite");
    return String(v);
  }
  if (!(v instanceof Rendered)) throw new Error(`render: ${typeof v} is not a string, a number or a rendered value`);
  if (v.target === target) return v.text;
  // text already escaped for a terminal is printable and one line: it may stand in a comment
  if (v.target === "text") return v.text;
  throw new Error(`render: ${v.target} text put into ${target}`);
}

function tag<T extends Target, V>(target: T, str: (s: string) => string, line: (body: string) => string = (b) => b) {
  return (strs: TemplateStringsArray, ...vals: V[]): Rendered<T> => {
    let out = strs[0];
    for (let i = 0; i < vals.length; i++) out += piece(target, vals[i] as Value<T>, str) + strs[i + 1];
    return made(target, line(out));
  };
}

/** Terminal text: every string put in is escaped (escapeText). */
export const txt = tag<"text", Value<"text">>("text", escapeText);
/** A line (or lines) of sh code: every string put in becomes one quoted word. */
export const shLine = tag<"sh", Value<"sh">>("sh", shWord);
/** A sh comment line, `# ...`: every string put in is escaped, so no newline ends the comment early. */
export const shNote = tag<"sh", Value<"sh"> | Rendered<"text">>("sh", escapeText, (b) => "# " + b);
/** A systemd directive line: every string put in becomes one quoted value word. */
export const unitLine = tag<"systemd", Value<"systemd">>("systemd", (s) => unitWord(s).text);
/** A unit file comment line. */
export const unitNote = tag<"systemd", Value<"systemd"> | Rendered<"text">>("systemd", escapeText, (b) => "# " + b);
/** An AppArmor rule: every string put in is a literal path (aaPath). */
export const aaLine = tag<"apparmor", Value<"apparmor">>("apparmor", (s) => aaPath(s).text);
/** An AppArmor comment (its text escaped), alone on a line or after a rule. */
export const aaNote = tag<"apparmor", Value<"apparmor"> | Rendered<"text">>("apparmor", escapeText, (b) => "# " + b);

/** Rendered values joined by one of our separators. */
export function join<T extends Target>(xs: Rendered<T>[], sep: " " | ", " | "; " | "," | "  " | "" | " && " | "\n", target: T): Rendered<T> {
  return made(target, xs.map((x) => piece(target, x, () => { throw new Error("render: a string in join"); })).join(sep));
}

/** The whole file: lines joined with LF and a final LF. */
export function document<T extends Target>(lines: Rendered<T>[]): string {
  return lines.map((l) => l.text + "\n").join("");
}

/** Terminal styles (only when colour is on); the escape sequences are ours, the text is already rendered. */
export function style(t: Rendered<"text">, on: boolean, sgr: "1" | "31"): Rendered<"text"> {
  return on ? made("text", `\x1b[${sgr}m${t.text}\x1b[0m`) : t;
}

/** Text lines joined with LF (no final LF: the caller's last line is often blank). */
export function joinLines(lines: Rendered<"text">[]): string {
  return lines.map((l) => l.text).join("\n");
}

/**
 * A shell command of a grant record (lib/grant/grant.ts builds each with shWord): the one way code from a
 * record enters a script. It is taken only if, outside its single quotes, it is one line of printable
 * ASCII; else undefined (a forged record), and the caller refuses that step.
 */
export function shCommand(cmd: string): Rendered<"sh"> | undefined {
  let quoted = false;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd.charCodeAt(i);
    if (c === 39) { quoted = !quoted; continue; }
    if (quoted) continue;
    if (c < 0x20 || c > 0x7e) return undefined;
    if (c === 92) i++;                                 // \' (shWord's quote in a name) is a character, not a quote
    if (i >= cmd.length) return undefined;
  }
  return quoted ? undefined : made("sh", cmd);
}
