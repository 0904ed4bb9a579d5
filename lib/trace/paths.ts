// Lexical path arithmetic on the decoded (surrogate-escaped) strings: no file system access, since the
// trace may come from another host or a container.

/** Removes ".", "..", and repeated slashes from an absolute path. */
export function normalize(p: string): string {
  if (p.indexOf("/.") < 0 && p.indexOf("//") < 0 && !(p.length > 1 && p.endsWith("/"))) return p;
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}

/** `rel` resolved against the directory `base` (both lexical); `rel` may already be absolute. */
export function resolvePath(base: string, rel: string): string {
  if (rel.charCodeAt(0) === 47) return normalize(rel);
  if (rel === "" || rel === ".") return normalize(base);
  return normalize(base === "/" ? "/" + rel : base + "/" + rel);
}

/**
 * Folds the items under any directory that holds more than `n` of them (counted after its
 * subdirectories are folded) into one, made by `fold(dir, items)`: the tree walk behind
 * trace-summarize's and trace-grant's `--collapse`.
 */
export function collapseUnder<T>(items: T[], pathOf: (t: T) => string, n: number, fold: (dir: string, items: T[]) => T): T[] {
  interface Node { children: Map<string, Node>; items: T[] }
  const root: Node = { children: new Map(), items: [] };
  for (const t of items) {
    let node = root;
    for (const p of pathOf(t).split("/").filter(Boolean).slice(0, -1)) {
      let c = node.children.get(p);
      if (!c) { c = { children: new Map(), items: [] }; node.children.set(p, c); }
      node = c;
    }
    node.items.push(t);
  }
  const walk = (node: Node, dir: string): T[] => {
    let found = [...node.items];
    for (const [name, c] of node.children) found = found.concat(walk(c, dir + "/" + name));
    return dir !== "" && found.length > n ? [fold(dir, found)] : found;
  };
  return walk(root, "");
}
