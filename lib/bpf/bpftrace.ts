// From the bpftrace backend's lines (bpf/leastpriv.bt, see lib/bpf/program.ts) to records: each call's
// numbers are decoded into the values strace would have printed (flag names, socket addresses, octal
// modes), so that the same Resolver gives paths, fds and peers, and every later tool sees one contract.
//
// bpftrace reads one buffer per CPU, so lines of different CPUs can arrive out of order (a child's first
// call before its parent's fork, an exec's end before its start), by a second and more under load. Events
// are held until every CPU's tick (format 3's T lines) has passed them, then released in kernel time
// order; format 2 had no ticks, and its events are held for a fixed 100 ms.
// bpftrace loses events when its buffers are full: a piece lost leaves its argument null and named in
// the record's `missing`, never filled from the raw register (a pointer is no path).

import { constants as osConstants } from "node:os";
import { ARGV_MAX, BPF_FORMAT, BPF_STRLEN, TICK_HZ, callsByNumber, extrasOf, type BpfCall } from "./program.js";
import { Resolver, type CallParts } from "../trace/resolver.js";
import { FORK_CALLS } from "../trace/syscalls.js";
import { PR } from "../trace/prctl.js";
import { ReaderShell, type LineReader, type ReaderOptions } from "../trace/reader.js";
import { decodeBytes, encodeBytes } from "../io/bytes.js";
import { errnoOf } from "../trace/errno.js";
import type { ExitRecord, InfoRecord, Json, SyscallRecord, TraceRecord } from "../io/records.js";

/** Writes a record (of cgroup, for the backend to scope); false when it was not kept (another
 *  container's), so that what it lacked is not counted against the trace. */
export type BpfEmit = (rec: TraceRecord, cgroup?: number) => boolean | void;

/** Format 2 (no ticks): how long (kernel time) an event is held for events of other CPUs that happened before it. */
const HOLD_NS = 100_000_000;
/** At most this many events are held (a burst longer than that releases its oldest early, and says so). */
const MAX_HELD = 100_000;
/** A tick is taken in an interrupt, which can come inside another probe, between the time its line
 *  carries and its printf: so a CPU's line may be older than its tick before it by that probe's run. */
const TICK_SLACK_NS = 5_000_000;
/** The ticks are trusted once they span this much: by then every CPU has printed some, so none is unknown. */
const TICK_START_NS = 1_000_000_000;
/** A CPU whose tick is this far behind the newest line is taken to be offline (and no longer waited for). */
const TICK_STALL_NS = 10_000_000_000;
/** Release once the safe time has moved this far (sorting once per cut, not per line). */
const CUT_NS = Math.round(1e9 / TICK_HZ);

interface Held { ns: number; seq: number; run: () => void }
interface Exec { filename: string; argv: string[]; truncated: boolean; lost: boolean }

export class BpfAssembler extends ReaderShell implements LineReader {
  readonly input = "lines";
  private offset: number | undefined;      // epoch seconds at kernel time 0
  private held: Held[] = [];
  private newest = 0;
  private lastCut = 0;
  private format = 0;
  /** Format 3: each CPU's newest tick (kernel ns), and the first tick's time. */
  private ticks = new Map<number, number>();
  private firstTick: number | undefined;
  private stalled = new Set<number>();
  private earlyNoted = false;
  /** Lines read other than ticks: a chunk of ticks alone is a quiet moment of the trace. */
  eventLines = 0;
  /** Events bpftrace said it lost (its lost_events messages). */
  lost = 0;
  /** What the lost events took from the records written, by kind: "argument" (a string, address or
   *  value of a call, or an exec's argv string, that was not read). */
  readonly lostKinds: { [kind: string]: number } = {};
  private seq = 0;
  private execs = new Map<number, Exec>();
  private lastChild = new Map<number, number>();   // parent tid → the child its fork made, as the host numbers it
  private exiting = new Map<number, { supersededBy?: number }>();   // exits read but not yet released
  private pieces = new Map<string, Pieces>();  // "tid:ns" of a C or X line → its "+" lines
  private ended = new Map<number, number>();    // tid → the time of its newest exec end released (kept past its exit: a start may come later still)
  private gone = new Set<number>();
  readonly cgroups = new Map<number, string>();   // mode 3: the cgroups made, by id
  arch = "x86_64";
  private calls = callsByNumber("x86_64");
  mode: number | undefined;
  ready = false;

  private cwdGiven: boolean;
  /** Told of each fork in kernel time order, before any record of the child: a clone's own record
   *  comes at its return, often after the child's first calls. */
  onFork?: (parent: number, child: number) => void;

  constructor(private readonly emitTagged: BpfEmit, opts: ReaderOptions = {}) {
    super(emitTagged, opts);
    this.cwdGiven = opts.cwd !== undefined;
  }

  startFile(file: string): void { this.release(true); this.file = file; }

  protected override emit(rec: TraceRecord, cgroup?: number): boolean | void {
    this.counts.records++;
    return this.emitTagged(rec, cgroup);
  }

  private time(ns: number): number | undefined {
    if (this.offset === undefined) return undefined;
    return Math.round((this.offset + ns / 1e9) * 1e6) / 1e6;
  }

  /** One line of bpftrace's output (without its newline): a JSON message. */
  line(text: string, no: number, fullLength?: number): void {
    this.counts.lines++;
    if (fullLength !== undefined) { this.unparsed(no, text, "line longer than the limit", fullLength); return; }
    if (text === "" || text.startsWith("Attaching ")) return;
    const data = printfData(text);
    if (data === undefined) { this.message(text, no); return; }
    const f = data.split("\t");
    const t = f[0];
    if (t === "T" && this.format >= 3 && f.length === 3 && /^\d+$/.test(f[1]) && /^\d+$/.test(f[2])) { this.tick(Number(f[1]), Number(f[2])); return; }
    this.eventLines++;
    if (t === "R") { this.readyLine(f, no, text); return; }
    if (t === "Q") { this.release(true); return; }
    if (t === "+" && f.length >= 5 && /^\d+$/.test(f[1]) && /^\d+$/.test(f[3])) { this.piece(f, no, text); return; }
    if (!/^[CXFEMS]$/.test(t) || f.length < 5 || !/^\d+$/.test(f[1])) {
      this.unparsed(no, text, "not a line of the leastpriv bpftrace program");
      return;
    }
    // kernel nanoseconds fit a double exactly for 104 days of uptime, and to 2 ns for 208
    const ns = Number(f[1]);
    if (ns > this.newest) this.newest = ns;
    const run = this.handler(t, f, no, text);
    if (!run) return;
    this.held.push({ ns, seq: this.seq++, run });
    if (this.held.length > MAX_HELD) { this.release(false); return; }
    // no ticks (format 2, or none yet): sorting is done once per HOLD_NS of kernel time, not per line
    if (!this.ticking() && this.newest - this.lastCut > HOLD_NS) { this.release(false); this.lastCut = this.newest; }
  }

  /** "T ns cpu": that CPU's lines up to ns are all in (bar the slack), because each CPU's come in order. */
  private tick(ns: number, cpu: number): void {
    this.firstTick ??= ns;
    const was = this.ticks.get(cpu);
    if (was === undefined || ns > was) this.ticks.set(cpu, ns);
    if (this.stalled.delete(cpu)) this.emit({ type: "info", time: this.time(ns), text: `bpftrace: CPU ${cpu} is ticking again` } as InfoRecord);
    if (ns > this.newest) this.newest = ns;
    const safe = this.safe();
    if (safe !== undefined && safe - this.lastCut >= CUT_NS) { this.release(false); this.lastCut = safe; }
  }

  /** Whether the ticks decide what is released: format 3, once the first has come (until then, or
   *  should the probe not run, the fixed hold). */
  private ticking(): boolean { return this.format >= 3 && this.firstTick !== undefined; }

  /** Format 3: the time up to which every CPU's lines are in; undefined while that is not known. */
  private safe(): number | undefined {
    if (this.firstTick === undefined || this.newest - this.firstTick < TICK_START_NS) return undefined;
    let min = Infinity;
    for (const [cpu, ns] of this.ticks) {
      if (this.newest - ns > TICK_STALL_NS) {
        if (!this.stalled.has(cpu)) {
          this.stalled.add(cpu);
          // its lines, should they come, may be older than what is released meanwhile
          this.emit({ type: "info", time: this.time(ns), text: `bpftrace: CPU ${cpu} has not ticked for ${TICK_STALL_NS / 1e9} s of the other CPUs' time: no longer waited for, and its late lines may be out of order` } as InfoRecord);
        }
        continue;
      }
      if (ns < min) min = ns;
    }
    return min === Infinity ? undefined : min - TICK_SLACK_NS;
  }

  /** Releases held events in kernel time order: all of them, or those old enough that nothing can precede them. */
  release(all: boolean): void {
    if (!this.held.length) return;
    this.held.sort((a, b) => a.ns - b.ns || a.seq - b.seq);
    let n = this.held.length;
    if (!all) {
      const limit = this.ticking() ? this.safe() ?? -Infinity : this.newest - HOLD_NS;
      n = 0;
      while (n < this.held.length && this.held[n].ns <= limit) n++;
      if (this.held.length - n > MAX_HELD / 2) {
        const early = this.held.length - n - MAX_HELD / 2;
        n = this.held.length - MAX_HELD / 2;
        if (this.ticking() && !this.earlyNoted) {
          this.earlyNoted = true;
          this.emit({ type: "info", text: `bpftrace: more than ${MAX_HELD} events held for a CPU's late lines: ${early} released before every CPU had passed them, so a late line may be out of order` });
        }
      }
    }
    const out = this.held.splice(0, n);
    for (const h of out) h.run();
  }

  /** Whether every CPU's lines up to kernel time ns have been read (without ticks: taken to be so). */
  readPast(ns: number): boolean {
    if (!this.ticking()) return true;
    for (const [cpu, t] of this.ticks) if (t < ns && !this.stalled.has(cpu)) return false;
    return true;
  }

  /** A quiet moment of the reading (no line for a while): format 2 releases what it holds; format 3
   *  waits for the ticks, since a CPU's late lines may yet come (bpftrace may be slow, not done). */
  quiet(): void { if (!this.ticking()) this.release(true); }

  end(): void { this.release(true); }

  /** A message of bpftrace's other than a printf: lost events are counted, its start is skipped. */
  private message(text: string, no: number): void {
    let m: { type?: unknown; data?: { events?: unknown } } | undefined;
    if (text.charCodeAt(0) === 123) { try { m = JSON.parse(text); } catch { /* told below */ } }
    if (m?.type === "attached_probes") return;
    if (m?.type === "lost_events" && typeof m.data?.events === "number") {
      this.lost += m.data.events;
      this.emit({ type: "info", text: `bpftrace: lost ${m.data.events} events` });
      // from the newest event read on, the lost ones may have been any process's chdir, open or close
      this.held.push({ ns: this.newest, seq: this.seq++, run: () => this.resolver.forget() });
      return;
    }
    // bpftrace's text output (without -f json) is the program's format 1, which this version does not read
    const why = /^[RCXFEMSQT+]\t\d+/.test(text) ? `a line of format 1 of the bpftrace program (text); this version reads formats 2 and ${BPF_FORMAT} (bpftrace -f json)`
      : "not a line of the leastpriv bpftrace program";
    this.unparsed(no, text, why);
  }

  private readyLine(f: string[], no: number, text: string): void {
    if (f[1] !== String(BPF_FORMAT) && f[1] !== "2") { this.unparsed(no, text, `format ${f[1]} of the bpftrace program; this version reads formats 2 and ${BPF_FORMAT}`); return; }
    this.format = Number(f[1]);
    const epoch = Number(f[2]), ns = Number(f[3]);
    if (Number.isFinite(epoch) && Number.isFinite(ns)) this.offset = epoch - ns / 1e9;
    this.mode = Number(f[4]);
    if (f[6]) { this.arch = f[6]; this.calls = callsByNumber(f[6]); }
    this.ready = true;
    if (this.mode === 1 && /^\d+$/.test(f[5] ?? "")) {
      this.live.add(Number(f[5]));
      // the command's working directory, when the reader was not told it
      const cwd = f.slice(7).join("\t");
      if (cwd.startsWith("/") && !this.cwdGiven) this.resolver = new Resolver(cwd);
    }
  }

  /** A C or X line's pieces, to be filled by the "+" lines that carry its time and thread. */
  private expect(ns: string, tid: number, need: number): Pieces {
    const p: Pieces = { need, got: new Map() };
    this.pieces.set(`${tid}:${ns}`, p);
    return p;
  }

  /** "+ ns tid n value": a piece of the C or X line with that time and thread, for its argument n
   *  (a call's, 1-based) or argv string n (an exec's, 0-based). */
  private piece(f: string[], no: number, text: string): void {
    const p = this.pieces.get(`${f[2]}:${f[1]}`);
    const n = Number(f[3]);
    if (!p || p.got.size >= p.need || p.got.has(n)) { this.unparsed(no, text, "a piece of a line that was not seen"); return; }
    p.got.set(n, f.slice(4).join("\t"));
  }

  private lostOne(kind: string): void { this.lostKinds[kind] = (this.lostKinds[kind] ?? 0) + 1; }

  /** What a line does once it is its turn; undefined when it is done with at once. */
  private handler(t: string, f: string[], no: number, text: string): (() => void) | undefined {
    const ns = Number(f[1]);
    const pid = Number(f[3]), cgroup = Number(f[4]);
    if ((t === "C" || t === "X") && !this.gone.has(pid)) this.live.add(pid);
    switch (t) {
      case "M": {
        // M ns id level path
        const id = Number(f[2]), path = f.slice(4).join("\t");
        return () => {
          this.cgroups.set(id, path);
          this.emit({ type: "info", time: this.time(ns), text: `cgroup ${id} made: ${path}` } as InfoRecord);
        };
      }
      case "F": {
        // F ns pid tid cgroup child flags comm
        const child = Number(f[5]), flags = cloneFlags(BigInt(/^\d+$/.test(f[6] ?? "") ? f[6] : "0"));
        // who is alive is kept as lines are read (not as they are released), so the end is not called early
        if (!this.gone.has(child)) this.live.add(child);
        return () => {
          this.lastChild.set(pid, child);
          this.resolver.forked(pid, child, flags);
          this.onFork?.(pid, child);
        };
      }
      case "S": {
        // S ns pid pid cgroup old comm: thread `old` exec'd and is now `pid`; the leader's exit, printed
        // just before, is the "superseded" kind (strace: "+++ superseded by execve in pid OLD +++")
        const old = Number(f[5]);
        const e = this.exiting.get(pid);
        if (e) e.supersededBy = old;
        this.live.delete(old); this.gone.add(old); this.live.add(pid); this.gone.delete(pid);
        return () => {
          const x = this.execs.get(old);
          if (x) { this.execs.delete(old); this.execs.set(pid, x); }
          this.resolver.superseded(pid, old);
        };
      }
      case "E": {
        // E ns pid tid cgroup status comm
        const raw = Number(f[5]), comm = f.slice(6).join("\t");
        const meta: { supersededBy?: number } = {};
        this.exiting.set(pid, meta);
        this.live.delete(pid);
        this.gone.add(pid);
        if (this.gone.size > 65536) this.gone.clear();
        return () => {
          if (this.exiting.get(pid) === meta) this.exiting.delete(pid);
          this.execs.delete(pid);
          const rec: ExitRecord = { type: "exit", pid, comm, time: this.time(ns) };
          if (rec.time === undefined) delete rec.time;
          // superseded: the process goes on under this pid, so its state stays
          if (meta.supersededBy !== undefined) rec.supersededBy = meta.supersededBy;
          else {
            if (raw & 0x7f) { rec.signal = signalName(raw & 0x7f); if (raw & 0x80) rec.core = true; }
            else rec.code = (raw >> 8) & 0xff;
            this.resolver.exited(pid);
          }
          this.emit(rec, cgroup);
        };
      }
      case "X": {
        // X ns pid tid cgroup nr argc path; its argc argv strings follow as pieces
        if (f.length < 8 || !/^\d+$/.test(f[6])) { this.unparsed(no, text, "an exec line cut short"); return undefined; }
        const filename = f.slice(7).join("\t");
        const argc = Number(f[6]);
        const got = this.expect(f[1], pid, argc);
        return () => {
          this.pieces.delete(`${pid}:${f[1]}`);
          // a start that came after its end was released (a CPU's lines later than the hold): that end was
          // written without it, and said so; it must not name the thread's next exec
          if ((this.ended.get(pid) ?? -1) > ns) {
            this.emit({ type: "info", time: this.time(ns), text: `bpftrace: the start of an exec by ${pid} came after its end, which was written without it` } as InfoRecord);
            return;
          }
          // the strings up to the first that was lost: an argv with a hole would name another command
          const argv: string[] = [];
          while (argv.length < argc && got.got.has(argv.length)) argv.push(got.got.get(argv.length)!);
          const lost = argv.length < argc;          // counted with its call's record (below), which says it
          this.execs.set(pid, { filename, argv, lost, truncated: lost || argc >= ARGV_MAX || byteLength(filename) >= BPF_STRLEN - 1 || argv.some((a) => byteLength(a) >= BPF_STRLEN - 1) });
        };
      }
      case "C": {
        // C ns pid tid cgroup nr ret a0..a5 n comm; the n decoded arguments follow as pieces
        const call = this.calls.get(Number(f[5]));
        if (!call || f.length < 15 || !/^\d+$/.test(f[13])) {
          this.unparsed(no, text, call ? "a call line not of the form this version reads" : `system call ${f[5]} is not one the bpftrace program traces on ${this.arch}`);
          return undefined;
        }
        const need = Number(f[13]);
        const got = need > 0 ? this.expect(f[1], pid, need) : undefined;
        const raw = f.slice(7, 13);
        const ret = Number(f[6]);
        const comm = f.slice(14).join("\t");
        return () => {
          if (got) this.pieces.delete(`${pid}:${f[1]}`);
          const carried = new Map<number, string>();
          // pieces name their argument 1-based
          if (got) for (const [n, v] of got.got) carried.set(n - 1, v);
          this.call(call, ns, pid, cgroup, comm, ret, raw, carried);
        };
      }
    }
    return undefined;
  }

  private call(call: BpfCall, ns: number, pid: number, cgroup: number, comm: string, ret: number, raw: string[], carried: Map<number, string>): void {
    const missing: number[] = [];
    const args: Json[] = specsOf(call).args.map((spec, i) => {
      // what comes in a piece comes only from the piece: the register holds a pointer
      if (PIECE_KINDS.has(spec.kind) && !carried.has(i)) { missing.push(i); return null; }
      const v = this.value(spec, carried.get(i) ?? raw[i], call.name);
      // a unix socket name is as long as the address length says (an abstract one has no NUL at its end)
      if (spec.kind === "a" && /addr_?len$/.test(call.fields[i + 1] ?? "")) return cutUnixName(v, Number(raw[i + 1]));
      return v;
    });
    let truncatedArgv = false;
    if (call.name === "execve" || call.name === "execveat") {
      const x = this.execs.get(pid);
      this.execs.delete(pid);
      this.ended.set(pid, ns);
      if (this.ended.size > 65536) this.ended.clear();
      const si = call.name === "execve" ? 0 : 1;
      if (x) {
        args[si] = strValue(x.filename);
        args[si + 1] = x.argv.map((a) => strValue(a));
        truncatedArgv = x.truncated;
        if (x.lost) missing.push(si + 1);
      } else missing.push(si, si + 1);     // the X line was lost
    }
    if (call.name === "utimensat" && args[1] === "") args[1] = null;
    if ((call.name === "open" || call.name === "openat") && !/O_CREAT|O_TMPFILE/.test(String(args[call.name === "open" ? 1 : 2]))) args.pop();
    const parts: CallParts = { args, closed: true, ret, hasRet: true };
    if (FORK_CALLS.has(call.name)) {
      // inside a pid namespace the call returns the child's number there; the fork event gave the host's
      const host = this.lastChild.get(pid);
      this.lastChild.delete(pid);
      if (host !== undefined && ret > 0 && host !== ret) parts.retnote = `/* ${host} in the tracer's PID NS */`;
    }
    if (ret < 0 && ret > -4096) {
      parts.ret = -1;
      const [name, msg] = errnoOf(-ret);
      parts.errno = name;
      parts.errmsg = msg;
    }
    const rec: SyscallRecord = this.resolver.record({ pid, comm, time: this.time(ns), name: call.name, parts, ...(missing.length ? { missing } : {}) });
    if (rec.time === undefined) delete rec.time;
    if (truncatedArgv) rec.argvTruncated = true;
    if (missing.length) rec.missing = missing;
    if (this.emit(rec, cgroup) !== false && missing.length) this.lostOne("argument");
  }

  /** One carried argument as strace would have shown it. */
  private value(spec: ArgKind, v: string, name: string): Json {
    if (v === undefined) return null;
    switch (spec.kind) {
      case "_": case "S": case "v": return null;
      case "s": return strValue(v);
      case "d": { const n = Number(v) | 0; return n === -100 ? "AT_FDCWD" : n; }
      case "p": { const [a, b] = v.split(","); return [Number(a), Number(b)]; }
      case "a": case "m": return sockaddrValue(v);
      case "i": case "l": case "u": case "f": {
        // the raw registers come as signed 64-bit numbers: an int argument is their low 32 bits
        if (!spec.dec) return spec.kind === "i" ? Number(v) | 0 : Number(v);
        let n = BigInt(v);
        if (spec.kind === "i") n = BigInt.asIntN(32, n);
        else if (spec.kind === "u" || spec.kind === "f") n = BigInt.asUintN(64, n);
        const text = decode(spec.dec, n, this.arch, name);
        if (spec.dec === "clone" && name === "clone3") return { flags: text };
        if (spec.dec === "clone" && name === "clone") return "flags=" + text;
        return text;
      }
    }
    return v;
  }
}

interface ArgKind { kind: string; dec?: string }
interface Pieces { need: number; got: Map<number, string> }
/** The argument kinds whose value comes in a piece (see lib/bpf/program.ts). */
const PIECE_KINDS = new Set(["s", "a", "m", "p", "f"]);

/** The text of a printf message of bpftrace -f json (`{"type": "printf", "data": "..."}`), without the
 *  newline the program ends it with; undefined for any other line. bpftrace 0.17 escapes `"`, `\\`
 *  and the control characters, and, where char is signed (x86-64), writes each byte from 0x80 up as
 *  \\uffffffXX; where it is not (arm64) such bytes come as they are. Every escape stands for one byte. */
export function printfData(line: string): string | undefined {
  const head = '{"type": "printf", "data": "';
  if (!line.startsWith(head) || !line.endsWith('"}')) return undefined;
  const body = line.slice(head.length - 1, -1);
  let s: string;
  if (body.indexOf("\\uffffff") < 0) {
    try { s = JSON.parse(body); } catch { return undefined; }
  } else {
    const b = unescapeBytes(body.slice(1, -1));
    if (!b) return undefined;
    s = decodeBytes(b);
  }
  return s.endsWith("\n") ? s.slice(0, -1) : s;
}

/** The bytes of a JSON string's body whose escapes each stand for a byte; undefined when malformed. */
function unescapeBytes(body: string): Buffer | undefined {
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c !== 92) {
      if (c < 0x80) { out.push(c); continue; }
      // a character as the line splitter decoded it (UTF-8, or a byte it escaped): back to its bytes
      const ch = c >= 0xd800 && c <= 0xdbff ? body.slice(i, i + 2) : body[i];
      for (const x of encodeBytes(ch)) out.push(x);
      i += ch.length - 1;
      continue;
    }
    const e = body[++i];
    const simple = ESCAPES[e];
    if (simple !== undefined) { out.push(simple); continue; }
    if (e !== "u") return undefined;
    const wide = body.startsWith("ffffff", i + 1);
    const hex = body.slice(i + 1, i + (wide ? 9 : 5));
    if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== (wide ? 8 : 4)) return undefined;
    const n = parseInt(hex, 16) & (wide ? 0xff : 0xffff);
    if (n > 0xff) return undefined;
    out.push(n);
    i += hex.length;
  }
  return Buffer.from(out);
}
const ESCAPES: Record<string, number> = { '"': 0x22, "\\": 0x5c, "/": 0x2f, b: 8, f: 12, n: 10, r: 13, t: 9 };
/** Each call's argument kinds and extra pieces, worked out once. */
const SPECS = new WeakMap<BpfCall, { args: ArgKind[]; extras: ReturnType<typeof extrasOf> }>();
function specsOf(call: BpfCall): { args: ArgKind[]; extras: ReturnType<typeof extrasOf> } {
  let s = SPECS.get(call);
  if (!s) {
    s = { args: call.args.map((a) => { const [kind, dec] = a.split(":"); return dec ? { kind, dec } : { kind }; }), extras: extrasOf(call) };
    SPECS.set(call, s);
  }
  return s;
}

function byteLength(s: string): number { return Buffer.byteLength(s); }

/** A unix sockaddr's name cut to the length the call gave (the family takes 2 bytes, an abstract name's NUL 1). */
export function cutUnixName(v: Json, addrlen: number): Json {
  if (!v || typeof v !== "object" || Array.isArray(v) || v.sa_family !== "AF_UNIX" || !(addrlen >= 2)) return v;
  const sp = v.sun_path;
  const abstract = !!sp && typeof sp === "object" && !Array.isArray(sp);
  const name = abstract ? String((sp as { abstract: Json }).abstract) : String(sp ?? "");
  const room = addrlen - 2 - (abstract ? 1 : 0);
  if (addrlen === 2) return { sa_family: "AF_UNIX" };
  const bytes = encodeBytes(name);
  if (bytes.length <= room) return v;
  const cut = decodeBytes(bytes, 0, Math.max(0, room)).replace(/\0+$/, "");
  return { sa_family: "AF_UNIX", sun_path: abstract ? { abstract: cut } : cut };
}

/** A string bpftrace read: marked truncated when it filled bpftrace's whole buffer. */
function strValue(s: string): Json {
  return byteLength(s) >= BPF_STRLEN - 1 ? { str: s, truncated: true } : s;
}

function flags(n: bigint, table: [string, bigint][], rest = true): string {
  const out: string[] = [];
  let left = n;
  for (const [name, bit] of table) if (bit !== 0n && (left & bit) === bit) { out.push(name); left &= ~bit; }
  if (left && rest) out.push("0x" + left.toString(16));
  return out.join("|");
}

const O_X86: [string, bigint][] = [["O_TMPFILE", 0o20200000n], ["O_CREAT", 0o100n], ["O_EXCL", 0o200n], ["O_NOCTTY", 0o400n],
  ["O_TRUNC", 0o1000n], ["O_APPEND", 0o2000n], ["O_NONBLOCK", 0o4000n], ["O_SYNC", 0o4010000n], ["O_DSYNC", 0o10000n],
  ["O_ASYNC", 0o20000n], ["O_DIRECT", 0o40000n], ["O_LARGEFILE", 0o100000n], ["O_DIRECTORY", 0o200000n],
  ["O_NOFOLLOW", 0o400000n], ["O_NOATIME", 0o1000000n], ["O_CLOEXEC", 0o2000000n], ["O_PATH", 0o10000000n]];
// arm64 moves four of them
const O_ARM64: [string, bigint][] = O_X86.map(([n, b]): [string, bigint] => [n,
  n === "O_DIRECTORY" ? 0o40000n : n === "O_NOFOLLOW" ? 0o100000n : n === "O_DIRECT" ? 0o200000n : n === "O_LARGEFILE" ? 0o400000n
    : n === "O_TMPFILE" ? 0o20040000n : b]);
const AT: [string, bigint][] = [["AT_SYMLINK_NOFOLLOW", 0x100n], ["AT_EACCESS", 0x200n], ["AT_SYMLINK_FOLLOW", 0x400n],
  ["AT_NO_AUTOMOUNT", 0x800n], ["AT_EMPTY_PATH", 0x1000n], ["AT_STATX_FORCE_SYNC", 0x2000n], ["AT_STATX_DONT_SYNC", 0x4000n]];
const CLONE: [string, bigint][] = [["CLONE_VM", 0x100n], ["CLONE_FS", 0x200n], ["CLONE_FILES", 0x400n], ["CLONE_SIGHAND", 0x800n],
  ["CLONE_PIDFD", 0x1000n], ["CLONE_PTRACE", 0x2000n], ["CLONE_VFORK", 0x4000n], ["CLONE_PARENT", 0x8000n],
  ["CLONE_THREAD", 0x10000n], ["CLONE_NEWNS", 0x20000n], ["CLONE_SYSVSEM", 0x40000n], ["CLONE_SETTLS", 0x80000n],
  ["CLONE_PARENT_SETTID", 0x100000n], ["CLONE_CHILD_CLEARTID", 0x200000n], ["CLONE_DETACHED", 0x400000n],
  ["CLONE_UNTRACED", 0x800000n], ["CLONE_CHILD_SETTID", 0x1000000n], ["CLONE_NEWCGROUP", 0x2000000n],
  ["CLONE_NEWUTS", 0x4000000n], ["CLONE_NEWIPC", 0x8000000n], ["CLONE_NEWUSER", 0x10000000n], ["CLONE_NEWPID", 0x20000000n],
  ["CLONE_NEWNET", 0x40000000n], ["CLONE_IO", 0x80000000n], ["CLONE_CLEAR_SIGHAND", 0x100000000n], ["CLONE_INTO_CGROUP", 0x200000000n]];
const FAMILIES: Record<number, string> = { 0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET" };
const SOCK_TYPES: Record<number, string> = { 1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET", 10: "SOCK_PACKET" };
const FCNTL: Record<number, string> = { 0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL", 1030: "F_DUPFD_CLOEXEC" };
const PR_NAMES = new Map(Object.entries(PR).map(([k, v]) => [v, k]));
const S_IF: Record<number, string> = { 0o140000: "S_IFSOCK", 0o100000: "S_IFREG", 0o60000: "S_IFBLK", 0o20000: "S_IFCHR", 0o10000: "S_IFIFO", 0o40000: "S_IFDIR" };

function octal(n: number): string { return "0" + (n & 0o7777).toString(8).padStart(3, "0"); }

/** Flag and constant names for a number, the way strace prints them. */
export function decode(dec: string, n: bigint, arch: string, name = ""): string {
  const num = Number(n);
  switch (dec) {
    case "open": {
      const acc = num & 3;
      const rest = flags(n & ~3n, arch === "aarch64" ? O_ARM64 : O_X86);
      const base = acc === 0 ? "O_RDONLY" : acc === 1 ? "O_WRONLY" : acc === 2 ? "O_RDWR" : "O_ACCMODE";
      return rest ? `${base}|${rest}` : base;
    }
    case "mode": return octal(num);
    case "mknod": {
      const t = S_IF[num & 0o170000];
      return t ? `${t}|${octal(num)}` : octal(num);
    }
    case "at": return flags(n, AT) || "0";
    case "unlinkat": return num & 0x200 ? (flags(n & ~0x200n, AT) ? "AT_REMOVEDIR|" + flags(n & ~0x200n, AT) : "AT_REMOVEDIR") : (flags(n, AT) || "0");
    case "access": return num === 0 ? "F_OK" : [num & 4 ? "R_OK" : "", num & 2 ? "W_OK" : "", num & 1 ? "X_OK" : ""].filter(Boolean).join("|");
    case "family": return FAMILIES[num] ?? `AF_${num}`;
    case "socktype": {
      const parts: string[] = [];
      if (name !== "accept4") parts.push(SOCK_TYPES[num & 0xf] ?? String(num & 0xf));
      if (num & 0o2000000) parts.push("SOCK_CLOEXEC");
      if (num & 0o4000) parts.push("SOCK_NONBLOCK");
      return parts.join("|") || "0";
    }
    case "clone": {
      const sig = num & 0xff;
      const f = flags(n & ~0xffn, CLONE);
      const s = sig ? signalName(sig) : "";
      return [f, s].filter(Boolean).join("|") || "0";
    }
    case "fcntl": return FCNTL[num] ?? String(num);
    case "prctl": return PR_NAMES.get(num) ?? String(num);
    case "signal": return num === 0 ? "0" : signalName(num);
  }
  return String(num);
}

function cloneFlags(n: bigint): string { return flags(n & ~0xffn, CLONE); }

const SIGNALS = new Map<number, string>();
for (const [name, num] of Object.entries(osConstants.signals)) if (!SIGNALS.has(num) && name !== "SIGIOT" && name !== "SIGPOLL") SIGNALS.set(num, name);
function signalName(n: number): string { return SIGNALS.get(n) ?? String(n); }

export { errnoOf };

/** "family,port,ip4,ip6hi,ip6lo,abstract,path" as strace's decoded sockaddr. */
function sockaddrValue(v: string): Json {
  const parts = v.split(",");
  if (parts.length < 7) return null;
  const fam = Number(parts[0]);
  if (fam === 0 && parts.every((p, i) => i >= 6 || p === "0")) return null;   // no address (NULL)
  const port = swap16(Number(parts[1]));
  const family = FAMILIES[fam] ?? `AF_${fam}`;
  if (fam === 2) return { sa_family: family, sin_port: port, sin_addr: ipv4(Number(parts[2])) };
  if (fam === 10) return { sa_family: family, sin6_port: port, sin6_addr: ipv6(BigInt("0x" + parts[3]), BigInt("0x" + parts[4])) };
  if (fam === 1) {
    const path = parts.slice(6).join(",");
    // an unnamed socket (an accepted client's, say) has neither a path nor an abstract name
    if (path === "") return { sa_family: family };
    return { sa_family: family, sun_path: parts[5] === "1" ? { abstract: path } : path };
  }
  return { sa_family: family };
}

function swap16(n: number): number { return ((n & 0xff) << 8) | ((n >> 8) & 0xff); }

function ipv4(n: number): string { return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join("."); }

/** An IPv6 address from the two little-endian halves bpftrace read, written as inet_ntop writes it. */
export function ipv6(lo: bigint, hi: bigint): string {
  const bytes: number[] = [];
  for (const half of [lo, hi]) for (let i = 0n; i < 8n; i++) bytes.push(Number((half >> (8n * i)) & 0xffn));
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) return `::ffff:${bytes.slice(12).join(".")}`;
  // the longest run of two or more zero words becomes "::"
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}
