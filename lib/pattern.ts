// A name the tools made general on purpose: a path whose parts are either the literal text of a real
// name or a glob the tool chose (a normalised pid or temporary name, a collapsed directory's "**").
// No file name can produce a glob part, so a file literally named "/srv/app/**" stays a literal.

/** A part that stands for many names: `<pid>`, `<tmp>`, ... (shown as `<NAME>`), or `**` (every name below). */
export interface Glob { glob: string }
export type PatternPart = string | Glob;
/** Literal strings and globs, in order; joined (globs as `<NAME>`, `**` as itself) it is the summary's `path`. */
export type Pattern = PatternPart[];

export const isGlob = (p: PatternPart): p is Glob => typeof p !== "string";

/** How a glob part is shown inside `path`. */
export function globText(g: Glob): string {
  return g.glob === "**" ? "**" : `<${g.glob}>`;
}

export function patternText(p: Pattern): string {
  return p.map((x) => (isGlob(x) ? globText(x) : x)).join("");
}

/**
 * The pattern of a string whose characters are marked tool-made (true) or literal (false): each run of
 * tool-made characters that reads `<NAME>` or `**` becomes a glob, anything else stays literal.
 * Undefined when nothing is tool-made.
 */
export function patternOfMask(s: string, mask: boolean[]): Pattern | undefined {
  if (!mask.some(Boolean)) return undefined;
  const out: Pattern = [];
  const lit = (t: string) => {
    if (!t) return;
    if (typeof out[out.length - 1] === "string") out[out.length - 1] += t; else out.push(t);
  };
  let i = 0;
  while (i < s.length) {
    if (!mask[i]) { let j = i; while (j < s.length && !mask[j]) j++; lit(s.slice(i, j)); i = j; continue; }
    let j = i;
    while (j < s.length && mask[j]) j++;
    // a tool-made run may hold several placeholders (<pid>/task/<tid> made by one rule)
    const run = s.slice(i, j);
    const re = /<([A-Za-z0-9_-]+)>|\*\*/g;
    let k = 0;
    for (let m = re.exec(run); m; m = re.exec(run)) {
      lit(run.slice(k, m.index));
      out.push({ glob: m[1] ?? "**" });
      k = m.index + m[0].length;
    }
    lit(run.slice(k));
    i = j;
  }
  return out.some(isGlob) ? out : undefined;
}

/** The per-character mask of a pattern's text (see patternOfMask). */
export function maskOf(path: string, p?: Pattern): boolean[] {
  const mask: boolean[] = new Array(path.length).fill(false);
  if (!p || patternText(p) !== path) return mask;
  let i = 0;
  for (const x of p) {
    const t = isGlob(x) ? globText(x) : x;
    if (isGlob(x)) mask.fill(true, i, i + t.length);
    i += t.length;
  }
  return mask;
}

/** The wider of two patterns for the same path (more globs wins; ties by text), so merging commutes. */
export function widerPattern(a?: Pattern, b?: Pattern): Pattern | undefined {
  if (!a) return b;
  if (!b) return a;
  const n = (p: Pattern) => p.filter(isGlob).length;
  if (n(a) !== n(b)) return n(a) > n(b) ? a : b;
  const x = JSON.stringify(a), y = JSON.stringify(b);
  return x <= y ? a : b;
}
