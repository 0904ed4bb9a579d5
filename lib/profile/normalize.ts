// Normalisation of resource names, so that two runs of the same program give the same profile: pids
// under /proc, terminal numbers, temporary names, and the user's own rules. Applied to a path before
// it is folded into a profile, by trace-summarize and trace-diff alike.

import { readFileSync } from "node:fs";
import { UserError } from "../errors.js";
import { patternOfMask, type Pattern } from "../pattern.js";

export interface Rule { re: RegExp; to: string }

export const DEFAULT_RULES: Rule[] = [
  { re: /^\/proc\/\d+(?=\/|$)/, to: "/proc/<pid>" },
  { re: /^\/proc\/<pid>\/task\/\d+(?=\/|$)/, to: "/proc/<pid>/task/<tid>" },
  { re: /^\/proc\/thread-self(?=\/|$)/, to: "/proc/self" },
  { re: /^\/proc\/(<pid>|self)\/(fd|fdinfo)\/\d+$/, to: "/proc/$1/$2/<fd>" },
  { re: /^\/dev\/pts\/\d+$/, to: "/dev/pts/<n>" },
  { re: /^(\/tmp|\/var\/tmp)\/systemd-private-[0-9a-f]{32}-/, to: "$1/systemd-private-<id>-" },
];

const TMP_DIR = /^(\/tmp|\/var\/tmp|\/dev\/shm|\/run\/user\/\d+)\/([^/]+)/;

/** A generated name in a temporary directory: mktemp's tmp.XXXXXXXXXX, Python's tmpXXXXXXXX,
 *  mkdtemp's PREFIX-XXXXXX (random letters and digits, at least one of each). */
export function tempName(name: string): string | undefined {
  if (/^tmp\.[A-Za-z0-9]{10}$/.test(name)) return "tmp.<tmp>";
  if (/^tmp[a-z0-9_]{8}$/.test(name) && /\d/.test(name.slice(3))) return "tmp<tmp>";
  const m = /^(.*[-_.])([A-Za-z0-9]{6,10})$/.exec(name) ?? /^()([A-Za-z0-9]{8,16})$/.exec(name);
  if (m && /\d/.test(m[2]) && /[A-Za-z]/.test(m[2])) return m[1] + "<tmp>";
  return undefined;
}

/** The path with the rules applied in order (the user's after the defaults). */
export function normalizePath(p: string, extra: Rule[] = []): string {
  return normalizeName(p, extra).path;
}

/**
 * The path with the rules applied, and which of its parts they made: `<NAME>` (and `**`) written in a
 * rule's replacement are globs the tool chose; text copied from the name (`$1`, what no rule touched)
 * stays literal, so a file literally named `/etc/<tmp>` is no glob. `mask` marks parts already made
 * (a profile's own pattern, read again).
 */
export function normalizeName(p: string, extra: Rule[] = [], mask?: boolean[]): { path: string; pattern?: Pattern } {
  let out = p;
  let m = mask ?? new Array<boolean>(p.length).fill(false);
  const apply = (rules: Rule[]) => { for (const r of rules) [out, m] = replaceMarked(out, m, r); };
  // the default rules and the temporary directories are all under these
  if (/^\/(proc|dev|tmp|var\/tmp|run\/user)(\/|$)/.test(p)) {
    apply(DEFAULT_RULES);
    const t = TMP_DIR.exec(out);
    if (t) {
      const n = tempName(t[2]);
      if (n !== undefined) {
        // tempName keeps the name's own prefix and adds "<tmp>"
        const at = t[1].length + 1;
        out = t[1] + "/" + n + out.slice(t[0].length);
        m = [...m.slice(0, at + n.length - 5), ...new Array<boolean>(5).fill(true), ...m.slice(t[0].length)];
      }
    }
  }
  apply(extra);
  const pattern = patternOfMask(out, m);
  return pattern ? { path: out, pattern } : { path: out };
}

const indexed = new WeakMap<RegExp, RegExp>();

/** String.replace of the rule's first match, with the mask carried along: what the template writes as <NAME> or ** is made. */
function replaceMarked(s: string, mask: boolean[], r: Rule): [string, boolean[]] {
  let re = indexed.get(r.re);
  if (!re) { re = new RegExp(r.re.source, r.re.flags.replace(/[gy]/g, "") + "d"); indexed.set(r.re, re); }
  const m = re.exec(s);
  if (!m) return [s, mask];
  const end = m.index + m[0].length;
  let out = "";
  const om: boolean[] = [];
  const copy = (a: number, b: number) => { out += s.slice(a, b); om.push(...mask.slice(a, b)); };
  const group = (range?: [number, number]) => { if (range) copy(range[0], range[1]); };
  const to = r.to;
  for (let i = 0; i < to.length; i++) {
    const c = to[i];
    if (c === "$" && i + 1 < to.length) {
      const d = to[i + 1];
      if (d === "$") { out += "$"; om.push(false); i++; continue; }
      if (d === "&") { copy(m.index, end); i++; continue; }
      if (d === "`") { copy(0, m.index); i++; continue; }
      if (d === "'") { copy(end, s.length); i++; continue; }
      if (d >= "0" && d <= "9") {
        // as String.replace: $NN when there is a group NN, else $N
        const two = Number(to.slice(i + 1, i + 3));
        const n = i + 2 < to.length && /\d/.test(to[i + 2]) && two >= 1 && two < m.length ? two : Number(d);
        if (n >= 1 && n < m.length) { group(m.indices![n]); i += n >= 10 ? 2 : 1; continue; }
      }
      if (d === "<" && m.groups) {
        const k = to.indexOf(">", i);
        if (k > 0) { group(m.indices!.groups?.[to.slice(i + 2, k)]); i = k; continue; }
      }
    }
    const ph = c === "<" ? /^<[A-Za-z0-9_-]+>/.exec(to.slice(i)) : c === "*" && to[i + 1] === "*" ? ["**"] : null;
    if (ph) { out += ph[0]; om.push(...new Array<boolean>(ph[0].length).fill(true)); i += ph[0].length - 1; continue; }
    out += c; om.push(false);
  }
  return [s.slice(0, m.index) + out + s.slice(end), [...mask.slice(0, m.index), ...om, ...mask.slice(end)]];
}

/**
 * Rules from a file, one a line: `REGEX => REPLACEMENT` (JavaScript regular expression and replacement,
 * $1 for groups); blank lines and lines starting with # are skipped.
 */
export function loadRules(file: string): Rule[] {
  let text: string;
  try { text = readFileSync(file, "utf8"); } catch (e) { throw new UserError(`${file}: ${(e as Error).message}`); }
  const rules: Rule[] = [];
  text.split("\n").forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith("#")) return;
    const k = t.indexOf(" => ");
    if (k < 0) throw new UserError(`${file}:${i + 1}: a rule is 'REGEX => REPLACEMENT'`);
    try { rules.push({ re: new RegExp(t.slice(0, k)), to: t.slice(k + 4) }); }
    catch (e) { throw new UserError(`${file}:${i + 1}: ${(e as Error).message}`); }
  });
  return rules;
}

/**
 * Names a traced process's look at its own /proc entries (or its relatives') /proc/self, so that they
 * stay apart from reading other processes' (/proc/<pid>), which a user may be denied.
 */
export class OwnProc {
  private pids = new Set<number>();

  rewrite<T extends { type: string }>(r: T): T {
    if (r.type !== "syscall") return r;
    const e = r as unknown as { pid: number | null; kind: string; op: string; ok: boolean | null; ret: unknown; path?: string; path2?: string };
    if (e.pid !== null) this.pids.add(e.pid);
    if (e.kind === "proc" && e.op === "fork" && e.ok && typeof e.ret === "number") this.pids.add(e.ret);
    for (const k of ["path", "path2"] as const) {
      const m = e[k] !== undefined ? /^\/proc\/(\d+)(?=\/|$)/.exec(e[k]!) : null;
      if (m && this.pids.has(Number(m[1]))) e[k] = "/proc/self" + e[k]!.slice(m[0].length);
    }
    return r;
  }
}
