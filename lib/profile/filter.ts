// trace-filter's predicate, built once from the options and applied per record. It reads the same
// fields on event records (`syscall`) and on profile records (`summary`), so a profile narrows too.

import micromatch from "micromatch";
import type { AnyRecord } from "../io/ndjson-in.js";

export interface FilterOptions {
  kinds?: string[];        // --files → file, --network → net, …
  op?: string[];
  syscall?: string[];
  pid?: number[];
  comm?: string[];
  container?: string[];
  ok?: boolean;            // --ok: true, --failed: false
  errno?: string[];
  path?: string[];
  notPath?: string[];
  addr?: string[];         // IP, or a glob on a unix socket path
  port?: number[];
  where?: string[];        // FIELD=VALUE: a field (dotted for nested ones) equal to VALUE (JSON, or else text)
  invert?: boolean;
}

/** Record types that carry context and pass through unless asked otherwise. */
export const CONTEXT_TYPES = new Set(["run", "end", "profile"]);

type Rec = { [k: string]: unknown };

export function buildPredicate(o: FilterOptions): (r: AnyRecord) => boolean {
  const tests: ((r: Rec) => boolean)[] = [];
  const set = <T>(xs: T[] | undefined) => (xs && xs.length ? new Set(xs) : undefined);
  const kinds = set(o.kinds), ops = set(o.op), syscalls = set(o.syscall), pids = set(o.pid), comms = set(o.comm),
    containers = set(o.container), errnos = set(o.errno), addrs = set(o.addr), ports = set(o.port);
  if (kinds) tests.push((r) => kinds.has(r.kind as string));
  if (ops) tests.push((r) => ops.has(r.op as string) || (Array.isArray(r.ops) && r.ops.some((x) => ops.has(x))));
  if (syscalls) tests.push((r) => syscalls.has(r.syscall as string) || (Array.isArray(r.syscalls) && r.syscalls.some((x) => syscalls.has(x))));
  if (pids) tests.push((r) => pids.has(r.pid as number));
  if (comms) tests.push((r) => comms.has(r.comm as string) || (Array.isArray(r.programs) && r.programs.some((x) => comms.has(x))));
  if (containers) tests.push((r) => containers.has(r.container as string));
  if (o.ok !== undefined) {
    const want = o.ok;
    tests.push((r) => {
      if (r.type === "summary") return want ? (r.ok as number) > 0 : Object.keys((r.errors as object) ?? {}).length > 0;
      return r.ok === want;
    });
  }
  if (errnos) tests.push((r) => errnos.has(r.errno as string) || Object.keys((r.errors as object) ?? {}).some((e) => errnos.has(e)));
  const paths = (r: Rec) => [r.path, r.path2].filter((p): p is string => typeof p === "string");
  if (o.path?.length) {
    const m = micromatch.matcher(o.path.length === 1 ? o.path[0] : `{${o.path.join(",")}}`, { dot: true });
    const globs = o.path;
    // a summary collapsed into DIR/** (its pattern ends with the tools' "**", which no file name can make)
    // matches a glob that matches what is under DIR; a file literally named "**" is only itself
    const collapsed = (r: Rec) => Array.isArray(r.pattern) && typeof r.pattern[r.pattern.length - 1] === "object";
    tests.push((r) => paths(r).some((p) => m(p) || (p === r.path && collapsed(r) && p.endsWith("/**") &&
      globs.some((g) => micromatch.isMatch(p.slice(0, -3) + "/x", g, { dot: true })))));
  }
  if (o.notPath?.length) {
    const m = micromatch.matcher(o.notPath.length === 1 ? o.notPath[0] : `{${o.notPath.join(",")}}`, { dot: true });
    tests.push((r) => !paths(r).some((p) => m(p)));
  }
  if (addrs) {
    const globs = [...addrs];
    tests.push((r) => {
      const a = r.addr as Rec | undefined;
      if (!a) return false;
      if (typeof a.ip === "string" && addrs.has(a.ip)) return true;
      const p = (a.path ?? a.abstract) as string | undefined;
      return p !== undefined && micromatch.isMatch(p, globs, { dot: true });
    });
  }
  if (ports) tests.push((r) => ports.has((r.addr as Rec | undefined)?.port as number));
  for (const w of o.where ?? []) {
    const k = w.indexOf("=");
    const keys = w.slice(0, k).split(".");
    let want: unknown = w.slice(k + 1);
    try { want = JSON.parse(want as string); } catch { /* plain text */ }
    const text = JSON.stringify(want);
    // a list on the way is searched element by element: network.peers.peer=1.2.3.4:53
    const values = (x: unknown, i: number): unknown[] => {
      if (Array.isArray(x)) return x.flatMap((y) => values(y, i));
      if (i === keys.length) return [x];
      return x && typeof x === "object" ? values((x as Rec)[keys[i]], i + 1) : [];
    };
    tests.push((r) => values(r, 0).some((x) => JSON.stringify(x) === text));
  }
  const all = (r: Rec) => tests.every((t) => t(r));
  return o.invert ? (r) => !all(r as Rec) : (r) => all(r as Rec);
}
