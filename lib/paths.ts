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
