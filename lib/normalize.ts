// Normalisation of resource names, so that two runs of the same program give the same profile: pids
// under /proc, terminal numbers, temporary names, and the user's own rules. Applied to a path before
// it is folded into a profile, by trace-summarize and trace-diff alike.

import { readFileSync } from "node:fs";
import { UserError } from "./cli.js";

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
  let out = p;
  // the default rules and the temporary directories are all under these
  if (!/^\/(proc|dev|tmp|var\/tmp|run\/user)(\/|$)/.test(p)) {
    for (const r of extra) out = out.replace(r.re, r.to);
    return out;
  }
  for (const r of DEFAULT_RULES) out = out.replace(r.re, r.to);
  const t = TMP_DIR.exec(out);
  if (t) {
    const n = tempName(t[2]);
    if (n !== undefined) out = t[1] + "/" + n + out.slice(t[0].length);
  }
  for (const r of extra) out = out.replace(r.re, r.to);
  return out;
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
