// Whether a record read from NDJSON has the shape trace-records(5) gives its type, so that no tool
// computes on a malformed one (a "path" that is a number, a call without its "syscall"). Fields the
// contract does not name are let through (newer tools may add some); records of types the tools only
// write (diff, plan, grant, verdict) need only their "type".

type Check = (v: unknown) => boolean;
interface Spec { required: string[]; fields: { [k: string]: Check } }

/** Values nested deeper than this are refused: no record of the contract comes near, and code that
 *  walks values (JSON.stringify among it) must never meet an unbounded depth. */
export const MAX_DEPTH = 64;

const str: Check = (v) => typeof v === "string";
const num: Check = (v) => typeof v === "number";
const bool: Check = (v) => typeof v === "boolean";
const pid: Check = (v) => v === null || (typeof v === "number" && Number.isInteger(v));
const boolOrNull: Check = (v) => v === null || typeof v === "boolean";
const any: Check = () => true;
const obj = (v: unknown): v is { [k: string]: unknown } => typeof v === "object" && v !== null && !Array.isArray(v);
const list = (of: Check): Check => (v) => Array.isArray(v) && v.every(of);
const strs = list(str);
const map = (of: Check): Check => (v) => obj(v) && Object.values(v).every(of);
const oneOf = (...xs: string[]): Check => (v) => typeof v === "string" && xs.includes(v);
const shape = (fields: { [k: string]: Check }): Check => (v) => obj(v) && Object.entries(v).every(([k, x]) => !(k in fields) || fields[k](x));

const ADDR = shape({ family: str, ip: str, port: num, path: str, abstract: str, proto: str, inode: num });
const addr: Check = (v) => ADDR(v) && typeof (v as { family?: unknown }).family === "string";
const KINDS = ["file", "net", "exec", "proc", "cred", "priv", "ipc", "other"];
const COST = map((v) => typeof v === "number" || typeof v === "string");

const spec = (required: string[], fields: { [k: string]: Check }): Spec => ({ required, fields: Object.assign(Object.create(null), fields) });

const SPECS: { [type: string]: Spec } = Object.assign(Object.create(null), {
  // syscall: invalidCall, below
  signal: spec(["pid", "signal"], { pid, comm: str, time: num, signal: str, stopped: bool, info: any }),
  exit: spec(["pid"], { pid, comm: str, time: num, code: num, signal: str, core: bool, supersededBy: num }),
  info: spec(["text"], { pid, time: num, text: str }),
  count: spec(["syscall", "calls", "errors"], { syscall: str, calls: num, errors: num, seconds: num, percent: num, usecsPerCall: num, total: bool }),
  unparsed: spec(["file", "line", "text", "reason"], { file: str, line: num, offset: num, text: str, reason: str, truncated: num }),
  run: spec([], {
    v: num, tracer: str, tracerVersion: str, backend: str, skipped: map(str), argv: strs, cwd: str, uid: num, user: str, host: str, kernel: str, start: num, flags: strs, sources: strs,
  }),
  end: spec([], {
    lines: num, records: num, unparsed: num, counts: map(num), exit: num, signal: str, duration: num, cost: COST,
    ended: oneOf("exited", "killed", "detached", "running", "not-started"), complete: bool, incomplete: strs, lost: num, lostKinds: map(num),
    container: (v) => v === null || typeof v === "string", dropped: num,
  }),
  profile: spec([], {
    v: num, commands: list(strs), hosts: strs, users: strs, tracers: strs, start: num, end: num, events: map(num), processes: num,
    syscalls: map(num), runs: num, containers: strs, entrypoints: strs, filtered: bool, cost: COST, incomplete: strs, warning: str,
  }),
  summary: spec(["kind"], {
    kind: str, path: str, addr, role: oneOf("peer", "local", "socket"), op: str, capability: str, ops: strs, okOps: strs, syscalls: strs,
    calls: num, ok: num, errors: map(num), programs: strs, probe: bool, argv: list(strs), evidence: strs, values: strs, cwdUnknown: bool,
    bytesRead: num, bytesWritten: num, bytesSent: num, bytesReceived: num,
  }),
});

const kindOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : `a ${typeof v}`);
const WANT: Map<Check, string> = new Map([[str, "a string"], [num, "a number"], [bool, "true or false"], [pid, "a process id or null"],
  [boolOrNull, "true, false or null"], [strs, "a list of strings"], [addr, "an address (an object with a family)"]]);

/** Why `rec` (JSON already parsed, an object with a string `type`) is not a record of the contract; undefined when it is. */
export function invalid(rec: { [k: string]: unknown }): string | undefined {
  if (rec.type === "syscall") return invalidCall(rec);
  const s = SPECS[rec.type as string];
  for (const k in rec) {
    const v = rec[k];
    const check = s?.fields[k];
    if (check === undefined || check === any) {
      if (!shallow(v, 1)) return DEEP;
    } else if (!check(v)) {
      return `"${k}" is ${kindOf(v)}${WANT.has(check) ? `, not ${WANT.get(check)}` : ", not what a " + rec.type + " record holds there"}`;
    }
  }
  if (s) for (const k of s.required) if (rec[k] === undefined) return `a ${rec.type} record without "${k}"`;
  return undefined;
}

const DEEP = `values nested deeper than ${MAX_DEPTH} levels`;
const REQUIRED = ["pid", "syscall", "kind", "op", "args", "ok"];
const ALL_REQUIRED = (1 << REQUIRED.length) - 1;

/**
 * The check of a `syscall` record, most of every stream, written out field by field: a table walked
 * per field cost a quarter of trace-filter's time; a switch on the name costs little.
 */
function invalidCall(rec: { [k: string]: unknown }): string | undefined {
  let seen = 0;
  for (const k in rec) {
    const v = rec[k];
    let want: string | undefined;
    switch (k) {
      case "type": break;
      case "pid": seen |= 1; if (!pid(v)) want = "a process id or null"; break;
      case "syscall": seen |= 2; if (typeof v !== "string") want = "a string"; break;
      case "kind": seen |= 4; if (typeof v !== "string" || !KINDS.includes(v)) want = "one of " + KINDS.join(", "); break;
      case "op": seen |= 8; if (typeof v !== "string") want = "a string"; break;
      case "args": seen |= 16; if (!Array.isArray(v)) want = "a list"; else if (!shallow(v, 1)) return DEEP; break;
      case "ok": seen |= 32; if (v !== null && typeof v !== "boolean") want = "true, false or null"; break;
      case "ret": if (v !== null && typeof v !== "number" && typeof v !== "string") want = "a number, a string or null"; break;
      case "path": case "path2": case "comm": case "errno": case "errmsg": case "retnote": case "data": case "container":
        if (typeof v !== "string") want = "a string"; break;
      case "time": case "dur": case "fd": if (typeof v !== "number") want = "a number"; break;
      case "cwdUnknown": case "detached": case "interrupted": case "injected": case "argvTruncated": case "pathTruncated":
      case "runtime": case "containerPath":
        if (typeof v !== "boolean") want = "true or false"; break;
      case "argv": case "stack": if (!strs(v)) want = "a list of strings"; break;
      case "addr": if (!addr(v)) want = "an address (an object with a family)"; break;
      case "incomplete": if (v !== "no-start" && v !== "no-end") want = "\"no-start\" or \"no-end\""; break;
      default: if (!shallow(v, 1)) return DEEP;       // retfd, and fields of newer tools
    }
    if (want !== undefined) return `"${k}" is ${kindOf(v)}, not ${want}`;
  }
  if (seen !== ALL_REQUIRED) for (let i = 0; i < REQUIRED.length; i++) if (!(seen & (1 << i))) return `a syscall record without "${REQUIRED[i]}"`;
  return undefined;
}

/** Whether `v`, at depth `d`, nests no deeper than MAX_DEPTH; the recursion stops there, so it is bounded too. */
function shallow(v: unknown, d: number): boolean {
  if (typeof v !== "object" || v === null) return true;
  if (d > MAX_DEPTH) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) { const x = v[i]; if (typeof x === "object" && x !== null && !shallow(x, d + 1)) return false; }
  } else {
    for (const k in v) { const x = (v as { [k: string]: unknown })[k]; if (typeof x === "object" && x !== null && !shallow(x, d + 1)) return false; }
  }
  return true;
}
