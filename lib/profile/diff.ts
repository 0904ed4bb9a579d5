// trace-diff's comparison: two profiles (folded with the same normalisation as trace-summarize) to one
// record per difference. Additions and widenings fail; what a program no longer does does not, unless
// strict. Allow patterns and ignored kinds turn expected changes off.

import micromatch from "micromatch";
import { readFileSync } from "node:fs";
import { keyOf, type Summary } from "./summary.js";
import { UserError } from "../errors.js";
import { endpointText } from "./report.js";
import { document, txt } from "../render.js";

export interface DiffOptions {
  strict?: boolean;
  allow?: string[];
  ignoreKinds?: string[];
}

export interface DiffRecord {
  type: "diff";
  change: "added" | "removed" | "changed";
  kind: string;
  path?: string;
  pattern?: Summary["pattern"];
  addr?: Summary["addr"];
  role?: string;
  op?: string;
  capability?: string;
  ops: string[];
  opsAdded?: string[];
  opsRemoved?: string[];
  probe?: boolean;
  fails: boolean;
  allowed?: string;
}

/** Allow patterns: a glob on a file or program path; "net:ADDR:PORT" (globs, "*" for any), "unix:GLOB";
 *  "socket:PROTO" (sockets opened, such as socket:TCP); "priv:CAP_OR_OP"; "cred:OP". */
export function loadAllowFile(file: string): string[] {
  let text: string;
  try { text = readFileSync(file, "utf8"); } catch (e) { throw new UserError(`${file}: ${(e as Error).message}`); }
  return text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
}

function allowedBy(s: Summary, patterns: string[]): string | undefined {
  for (const p of patterns) {
    const m = /^(net|unix|socket|priv|cred|file|exec):(.*)$/.exec(p);
    const kind = m?.[1], body = m ? m[2] : p;
    if (!m || kind === "file" || kind === "exec") {
      if ((s.kind === "file" || s.kind === "exec") && (!kind || kind === s.kind) && s.path !== undefined &&
        micromatch.isMatch(s.path, body, { dot: true })) return p;
      continue;
    }
    if (kind === "net" && s.kind === "net" && s.addr?.ip !== undefined) {
      const k = body.lastIndexOf(":");
      const host = k < 0 ? body : body.slice(0, k), port = k < 0 ? "*" : body.slice(k + 1);
      if (micromatch.isMatch(s.addr.ip, host) && (port === "*" || String(s.addr.port ?? "") === port)) return p;
    }
    if (kind === "unix" && s.kind === "net") {
      const name = s.addr?.path ?? (s.addr?.abstract !== undefined ? "@" + s.addr.abstract : undefined);
      if (name !== undefined && micromatch.isMatch(name, body, { dot: true })) return p;
    }
    if (kind === "socket" && s.kind === "net" && s.role === "socket" && micromatch.isMatch(s.addr?.proto ?? s.addr?.family ?? "", body)) return p;
    if (kind === "priv" && s.kind === "priv" && (s.capability === body || s.op === body)) return p;
    if (kind === "cred" && s.kind === "cred" && s.op === body) return p;
  }
  return undefined;
}

export function diffProfiles(base: Summary[], cur: Summary[], o: DiffOptions = {}): DiffRecord[] {
  const ignore = new Set(o.ignoreKinds ?? []);
  const index = (xs: Summary[]) => new Map(xs.filter((s) => !ignore.has(s.kind)).map((s) => [keyOf(s.kind, s), s]));
  const b = index(base), c = index(cur);
  const out: DiffRecord[] = [];
  const rec = (change: DiffRecord["change"], s: Summary, fails: boolean, extra: Partial<DiffRecord> = {}) => {
    const d: DiffRecord = { type: "diff", change, kind: s.kind } as DiffRecord;
    for (const k of ["path", "pattern", "addr", "role", "op", "capability"] as const) if (s[k] !== undefined) (d as unknown as Record<string, unknown>)[k] = s[k];
    d.ops = s.ops;
    Object.assign(d, extra);
    if (s.probe) d.probe = true;
    const allowed = fails && o.allow?.length ? allowedBy(s, o.allow) : undefined;
    d.fails = fails && !allowed;
    if (allowed) d.allowed = allowed;
    out.push(d);
  };
  for (const [k, s] of c) {
    const old = b.get(k);
    // a search that found nothing touched nothing: reported, failing only when strict
    if (!old) { rec("added", s, !!o.strict || !s.probe); continue; }
    const added = s.ops.filter((x) => !old.ops.includes(x));
    const removed = old.ops.filter((x) => !s.ops.includes(x));
    if (added.length || removed.length) {
      const extra: Partial<DiffRecord> = {};
      if (added.length) extra.opsAdded = added;
      if (removed.length) extra.opsRemoved = removed;
      rec("changed", s, !!o.strict || (added.length > 0 && !s.probe), extra);
    }
  }
  for (const [k, s] of b) if (!c.has(k)) rec("removed", s, !!o.strict);
  return out;
}

/** One line per difference, like a unified diff of the profile; names escaped for the terminal. */
export function diffText(ds: DiffRecord[]): string {
  const what = (d: DiffRecord) => {
    if (d.path !== undefined) return txt`${d.kind} ${d.path}`;
    if (d.addr) return txt`${`net ${d.role} ${d.addr.proto ?? d.addr.family} ${endpointText(d.addr)}`.trim()}`;
    return txt`${d.kind} ${d.op ?? ""}${d.capability ? txt` (${d.capability})` : txt``}`;
  };
  return document(ds.map((d) => {
    const sign = d.change === "added" ? "+" : d.change === "removed" ? "-" : "~";
    const ops = d.change === "changed" ? txt`[${d.ops.join(",")}]${d.opsAdded ? txt` +${d.opsAdded.join(",")}` : txt``}${d.opsRemoved ? txt` -${d.opsRemoved.join(",")}` : txt``}` : txt`[${d.ops.join(",")}]`;
    const note = d.allowed ? txt`  (allowed by ${d.allowed})` : d.fails ? txt`` : txt`  (not failing)`;
    return txt`${sign} ${what(d)} ${ops}${d.probe ? " (search, not found)" : ""}${note}`;
  }));
}
