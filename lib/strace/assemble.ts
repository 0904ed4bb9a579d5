// From strace's lines to records: joins <unfinished ...> with <... resumed> by pid, mends lines that
// strace's own messages were spliced into, turns timestamps into times, attaches -e read/write dumps
// and -k stacks to their call, infers pids strace left out, and reports every orphan. The only state is
// per live process, so memory is bounded by processes, not by input size.

import { parseCall, parseLine, type ParsedLine, type Prefix } from "./line.js";
import { MAX_NESTING } from "./values.js";
import { childPid } from "../trace/resolver.js";
import { FORK_CALLS } from "../trace/syscalls.js";
import { ReaderShell, type Emit, type LineReader, type ReaderOptions } from "../trace/reader.js";
import type { ExitRecord, InfoRecord, SignalRecord, SyscallRecord, TraceRecord } from "../io/records.js";

export interface AssembleOptions extends ReaderOptions {
  date?: string;           // YYYY-MM-DD of the first line, for -t/-tt time-of-day stamps
}

interface Pending { name: string; head: string; pfx: Prefix; time?: number; file: string; line: number }

export type { Emit };

export class Assembler extends ReaderShell implements LineReader {
  readonly input = "lines";
  private pending = new Map<number, Pending>();     // pid (-1 for none) → its unfinished call
  private children = new Set<number>();             // pids first seen as a fork's result
  private held: SyscallRecord | null = null;        // the last call, until its dump/stack lines are past
  private splice = "";                              // text before a spliced-in strace message
  private spliceLine = 0;
  private dayBase: number | undefined;
  private day = 0;
  private lastTod = -1;
  private relTime = 0;
  private lastHms = "";
  private lastHmsSec = 0;
  filePid: number | null = null;                    // -ff: the pid from the file name

  constructor(emit: Emit, opts: AssembleOptions = {}) {
    super(emit, opts);
    if (opts.date) {
      const [y, m, d] = opts.date.split("-").map(Number);
      this.dayBase = new Date(y, m - 1, d).getTime() / 1000;
    }
  }

  /** Starts a new input file; `pid` is set for strace -ff files (NAME.PID). */
  startFile(file: string, pid: number | null = null): void {
    this.flushHeld();
    if (this.splice) this.unparsed(this.spliceLine, this.splice, "cut off by the end of the file");
    this.splice = "";
    this.file = file;
    this.filePid = pid;
    this.day = 0;
    this.lastTod = -1;
    this.relTime = 0;
  }

  /** One line of strace output (without its newline). `fullLength` is set when the reader cut it. */
  line(text: string, lineNo: number, fullLength?: number): void {
    this.counts.lines++;
    if (fullLength !== undefined) {
      this.flushHeld();
      this.unparsed(lineNo, text, "line longer than the limit", fullLength);
      return;
    }
    if (this.splice) { text = this.splice + text; this.splice = ""; lineNo = this.spliceLine; }
    else {
      // "clone(…|SIGCHLDstrace: Process 2417 attached" — strace wrote its message into our line
      const k = text.indexOf("strace: Process ");
      if (k > 0) {
        this.splice = text.slice(0, k);
        this.spliceLine = lineNo;
        this.info(text.slice(k), { pid: null });
        return;
      }
    }
    const p = parseLine(text);
    if (p.t === "dump" || p.t === "stack") {
      const h = this.held;
      if (!h) { this.unparsed(lineNo, text, p.t === "dump" ? "data dump without a call" : "stack frame without a call"); return; }
      if (p.t === "dump") h.data = (h.data ?? "") + p.hex;
      else (h.stack ??= []).push(p.frame);
      return;
    }
    this.flushHeld();
    this.parsed(p, text, lineNo);
  }

  private parsed(p: Exclude<ParsedLine, { t: "dump" } | { t: "stack" }>, text: string, lineNo: number): void {
    switch (p.t) {
      case "blank": return;
      case "decor": return;
      case "bad": this.unparsed(lineNo, text, p.reason); return;
      case "count": {
        const r = p.row;
        const rec: TraceRecord = { type: "count", syscall: r.syscall, calls: r.calls, errors: r.errors, seconds: r.seconds, percent: r.percent, usecsPerCall: r.usecsPerCall };
        if (r.syscall === "total") rec.total = true;
        this.emit(rec);
        return;
      }
    }
    const pid = this.pidOf(p.pfx);
    const time = this.time(p.pfx);
    switch (p.t) {
      case "info": this.info(p.text, p.pfx, time); return;
      case "signal": {
        const rec = { type: "signal", pid } as SignalRecord;
        if (p.pfx.comm !== undefined) rec.comm = p.pfx.comm;
        if (time !== undefined) rec.time = time;
        rec.signal = p.signal;
        if (p.stopped) rec.stopped = true;
        if (p.info !== undefined) rec.info = p.info;
        this.emit(rec);
        return;
      }
      case "exit": {
        if (p.supersededBy !== undefined && pid !== null) {
          // the thread's pending execve resumes under the leader's pid
          const q = this.pending.get(p.supersededBy);
          if (q) { this.pending.delete(p.supersededBy); this.orphanOf(pid); this.pending.set(pid, q); }
          this.resolver.superseded(pid, p.supersededBy);
          this.live.delete(p.supersededBy);
          this.children.delete(p.supersededBy);
        } else {
          this.orphanOf(pid);
          this.resolver.exited(pid);
          if (pid !== null) { this.live.delete(pid); this.children.delete(pid); }
        }
        const rec = { type: "exit", pid } as ExitRecord;
        if (p.pfx.comm !== undefined) rec.comm = p.pfx.comm;
        if (time !== undefined) rec.time = time;
        if (p.code !== undefined) rec.code = p.code;
        if (p.signal !== undefined) { rec.signal = p.signal; rec.core = !!p.core; }
        if (p.supersededBy !== undefined) rec.supersededBy = p.supersededBy;
        this.emit(rec);
        return;
      }
      case "unfinished": {
        this.orphanOf(pid);
        this.pending.set(pid ?? -1, { name: p.name, head: p.head, pfx: p.pfx, time, file: this.file, line: lineNo });
        if (p.detached) this.orphanOf(pid, true);
        return;
      }
      case "resumed": {
        const q = this.pending.get(pid ?? -1);
        if (q && q.name === p.name) {
          this.pending.delete(pid ?? -1);
          this.call(pid, q.pfx.comm ?? p.pfx.comm, q.time, p.name, q.head + p.rest, undefined, lineNo, text);
        } else {
          if (q) this.orphanOf(pid);
          this.call(pid, p.pfx.comm, time, p.name, p.name + "(" + p.rest, "no-start", lineNo, text);
        }
        return;
      }
      case "call":
        this.orphanOf(pid);
        this.call(pid, p.pfx.comm, time, p.name, p.body, undefined, lineNo, text);
        return;
    }
  }

  private call(pid: number | null, comm: string | undefined, time: number | undefined, name: string, body: string,
    incomplete: "no-start" | "no-end" | undefined, lineNo: number, text: string, detached = false): void {
    const parts = parseCall(body, name.length);
    if (parts.tooDeep) { this.unparsed(lineNo, text, `values nested deeper than ${MAX_NESTING} levels`); return; }
    if (!parts.hasRet && incomplete === undefined) {
      this.unparsed(lineNo, text, "call without a result (cut off?)");
      return;
    }
    const rec = this.resolver.record({ pid, comm, time, name, parts, incomplete, detached });
    if (parts.ret !== null && FORK_CALLS.has(name)) {
      const c = childPid(parts);
      if (c !== undefined) { this.children.add(c); this.live.add(c); }
    }
    this.held = rec;
  }

  /** Emits the last call now instead of waiting for dump or stack lines that may follow it. */
  flushHeld(): void {
    if (this.held) { const h = this.held; this.held = null; this.emit(h); }
  }

  /** Emits the pending unfinished call of `pid` as an orphan: its end was never seen. */
  private orphanOf(pid: number | null, detached = false): void {
    const q = this.pending.get(pid ?? -1);
    if (!q) return;
    this.pending.delete(pid ?? -1);
    this.call(pid, q.pfx.comm, q.time, q.name, q.head, "no-end", q.line, q.head, detached);
    this.flushHeld();
  }

  private info(text: string, pfx: Prefix, time?: number): void {
    const rec: InfoRecord = { type: "info", pid: pfx.pid, text };
    const m = /^strace: Process (\d+) (attached|detached)/.exec(text);
    if (m) rec.pid = Number(m[1]);
    if (time !== undefined) rec.time = time;
    this.emit(rec);
  }

  /** The pid of a line: printed, from the -ff file name, or the only live process when strace omits it. */
  private pidOf(pfx: Prefix): number | null {
    let pid = pfx.pid;
    if (pid === null) pid = this.filePid;
    if (pid === null && this.live.size === 1) pid = this.live.values().next().value as number;
    if (pid !== null) {
      pfx.pid = pid;
      if (!this.live.has(pid)) {
        if (!this.children.has(pid)) this.resolver.adopt(pid);
        this.live.add(pid);
        // a call that started before strace began printing pids belongs to this process
        const q = this.pending.get(-1);
        if (q && !this.pending.has(pid) && !this.children.has(pid)) { this.pending.delete(-1); this.pending.set(pid, q); }
      }
    }
    return pid;
  }

  private time(pfx: Prefix): number | undefined {
    const ts = pfx.ts;
    if (ts === undefined) return undefined;
    if (ts.charCodeAt(2) === 58 /* : */) {
      // HH:MM:SS[.frac]: the whole seconds change rarely, so reuse them
      const hms = ts.length > 8 ? ts.slice(0, 8) : ts;
      if (hms !== this.lastHms) {
        this.lastHms = hms;
        this.lastHmsSec = Number(ts.slice(0, 2)) * 3600 + Number(ts.slice(3, 5)) * 60 + Number(ts.slice(6, 8));
      }
      const tod = ts.length > 9 ? this.lastHmsSec + Number(ts.slice(8)) : this.lastHmsSec;
      if (this.lastTod >= 0 && tod < this.lastTod - 43200) this.day++;     // past midnight
      this.lastTod = tod;
      return round6((this.dayBase ?? 0) + this.day * 86400 + tod);
    }
    const v = Number(ts);
    if (v > 1e8) return v;                                                   // -ttt, unix epoch
    this.relTime += v;                                                       // -r: since the previous line
    return round6(this.relTime);
  }

  /** Ends the input: whatever is still unfinished is reported as such. */
  end(): void {
    this.flushHeld();
    if (this.splice) { this.unparsed(this.spliceLine, this.splice, "cut off by the end of the input"); this.splice = ""; }
    for (const pid of [...this.pending.keys()]) this.orphanOf(pid === -1 ? null : pid);
  }
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
