// From the batched eBPF loader's frames (bpf/events.h: a u32 length, then the frame) to records: the
// same values the bpftrace backend decodes (lib/bpf/bpftrace.ts), through the same Resolver, so that both
// backends, and strace, give the same records. Frames come in any chunking; a frame's bytes are read in
// place, and strings are bytes until they are decoded (no byte of a name can break a frame).
//
// The ring buffer is one for all CPUs, written in the order events happened, so nothing is held back to
// be sorted (as bpftrace's per-CPU buffers need). What the kernel side could not write it counts, and
// the loader says so (L and Q frames): counted here in `lost`, and the resolver forgets what it knew.

import { constants as osConstants } from "node:os";
import { callsByNumber, type BpfCall } from "./program.js";
import { cutUnixName, decode, ipv6 } from "./bpftrace.js";
import { decodeBytes } from "../io/bytes.js";
import { errnoOf } from "../trace/errno.js";
import { Resolver } from "../trace/resolver.js";
import { ReaderShell, type ByteReader, type ReaderOptions } from "../trace/reader.js";
import type { ExitRecord, InfoRecord, Json, SyscallRecord, TraceRecord } from "../io/records.js";
import type { CallParts } from "../trace/resolver.js";

export type RingEmit = (rec: TraceRecord, cgroup?: number) => void;

/** The loader's frame format this reader writes of (LP_FORMAT in bpf/events.h); it reads the older too. */
export const RING_FORMAT = 2;
/** The frame formats this reader reads: 1 is 2 without the Y and W frames. */
export const RING_FORMATS = [1, 2];
/** The types of frame the loader writes (bpf/events.h). */
export const FRAME_TYPES: ReadonlySet<number> = new Set([..."CXAZYWFESMRLQ"].map((c) => c.charCodeAt(0)));
const HDR = 32;
const CALL_HDR = 104;
// piece status (bpf/events.h)
const ST_NULL = 1, ST_FAULT = 2, ST_CUT = 3, ST_MORE = 4;
const ARGV_CUT = 1;
const DROP_KINDS = ["events", "argv"];

// how an argument is read: from its register, or from the piece the kernel side carried for it
const K_NULL = 0, K_FD = 1, K_INT = 2, K_LONG = 3, K_DEC = 4, K_STR = 5, K_PAIR = 6, K_FLAGS = 7, K_ADDR = 8;
interface ArgKind { kind: string; dec?: string; code: number; cutByLen: boolean; texts: Map<bigint, string> }
interface Plan { call: BpfCall; specs: ArgKind[]; exec: boolean; open: boolean; fork: boolean }
interface Exec { filename: Json; cut: boolean; args: Buffer[][]; argc: number; status: number; lost: boolean; fault: boolean; block?: Buffer[]; blockBad?: boolean }
interface Piece { status: number; start: number; len: number }
// a child's records, waiting for its parent's fork call (record and cgroup, in turn)
interface Hold { parent: number; child: number; recs: unknown[]; pids: number[] }
const HOLD_MAX = 10000;
function planFor(call: BpfCall): Plan {
  const specs = call.args.map((a, i): ArgKind => {
    const [kind, dec] = a.split(":");
    const code = kind === "s" ? K_STR : kind === "p" ? K_PAIR : kind === "f" ? K_FLAGS : kind === "a" || kind === "m" ? K_ADDR
      : kind === "_" || kind === "S" || kind === "v" ? K_NULL : kind === "d" ? K_FD : dec ? K_DEC : kind === "i" ? K_INT : K_LONG;
    return { kind, dec, code, cutByLen: kind === "a" && /addr_?len$/.test(call.fields[i + 1] ?? ""), texts: new Map() };
  });
  const n = call.name;
  return { call, specs, exec: n === "execve" || n === "execveat", open: n === "open" || n === "openat",
    fork: n === "clone" || n === "clone3" || n === "fork" || n === "vfork" };
}

export interface RingReaderOptions extends ReaderOptions { file?: string }

export class RingReader extends ReaderShell implements ByteReader {
  readonly input = "bytes";
  private cwdGiven: boolean;
  private rest: Buffer | undefined;     // a frame cut by the end of a chunk
  private fed = 0;                      // bytes of this input so far, for the offsets of frames not understood
  private base = 0;                     // the input's offset of the buffer being read
  private offset: number | undefined;   // epoch seconds at kernel time 0
  private calls = callsByNumber("x86_64");
  private plans = new Map<number, Plan>();
  // the pieces of the frame being read, by argument; a slot is this frame's when its gen is
  private pieceGen = 0;
  private readonly pGen = new Int32Array(8);
  private readonly pStart = new Int32Array(8);
  private readonly pLen = new Int32Array(8);
  private readonly pStatus = new Int32Array(8);
  private comms = new Map<number, { w: number[]; s: string }>();
  private execs = new Map<number, Exec>();
  private groups = new Map<number, Set<number>>();   // thread group → its threads seen
  private lastChild = new Map<number, number>();
  private leaderExits = new Map<number, { raw: number; comm: string; ns: number; cgroup: number }>();
  private drops = [0, 0];
  private frames = 0;
  readonly cgroups = new Map<number, string>();
  arch = "x86_64";
  mode: number | undefined;
  /** The target the loader was started for (a pid, or a cgroup id), from its ready frame. */
  id: number | undefined;
  ready = false;
  /** The loader's end frame was read: its counts are final. */
  ended = false;
  /** Frames the kernel side could not write (ring buffer full), all kinds. */
  lost = 0;
  /** By kind: `events` and `argv` (frames and exec argument chunks the ring had no room for), and
   *  `argument` (records written with an argument missing: a piece lost or unreadable). */
  readonly lostKinds: { [kind: string]: number } = {};
  /** Told of each fork before any record of the child. */
  onFork?: (parent: number, child: number) => void;
  onReady?: () => void;

  constructor(private readonly emitTagged: RingEmit, opts: RingReaderOptions = {}) {
    super(emitTagged, opts);
    this.cwdGiven = opts.cwd !== undefined;
    this.file = opts.file ?? "leastpriv-bpf";
  }

  /** One loader's output is one stream: a new file is a new stream, and a frame cut by the last one's end is said so. */
  startFile(file: string): void {
    if (this.rest) this.cutShort();
    this.file = file;
    this.fed = 0;
  }

  /** A chunk of the loader's stdout. */
  chunk(chunk: Buffer): void {
    let b = chunk, at = 0;
    this.base = this.fed;
    this.fed += chunk.length;
    if (this.rest) { this.base -= this.rest.length; b = Buffer.concat([this.rest, chunk]); this.rest = undefined; }
    const n = b.length;
    while (at + 4 <= n) {
      const len = b.readUInt32LE(at);
      if (at + 4 + len > n) break;
      this.frame(b, at + 4, len);
      at += 4 + len;
    }
    if (at < n) this.rest = Buffer.from(b.subarray(at));
  }

  /** The stream ended: a frame cut short is said so; leaders' exits and children's records held back are written. */
  end(): void {
    if (this.rest) this.cutShort();
    for (const pid of [...this.leaderExits.keys()]) this.leaderExit(pid);
    this.releaseAll();
  }

  private cutShort(): void {
    const r = this.rest!;
    const held = r.length >= 4 ? `${r.length - 4} of its ${r.readUInt32LE(0)} bytes` : `${r.length} of the 4 bytes of its length`;
    this.unparsed(this.frames + 1, r.toString("hex", 0, Math.min(r.length, 64)), `a frame cut short at the end of the loader's output (${held})`,
      r.length > 64 ? r.length : undefined, this.file, this.fed - r.length);
    this.rest = undefined;
  }

  /** Input not read as frames (a reader of files found it cannot be: a length no frame has, an end missing):
   *  one `unparsed` record at `offset`, numbered as the next frame, holding the first bytes of `bytes`. */
  report(offset: number, bytes: Buffer, length: number, reason: string): void {
    this.unparsed(this.frames + 1, bytes.toString("hex", 0, Math.min(bytes.length, 64)), reason, length > 64 ? length : undefined, this.file, offset);
  }

  // A child's records wait until its parent's fork call has been written: a parent returns from the
  // call after its child has begun (vfork's only once the child has exec'd), so the child's exec would
  // come first, and who ran it would not be known from the stream (strace gives the fork first). A
  // child's own children wait in the same queue; a queue goes out as it is once it holds HOLD_MAX
  // records, its parent exits, events are lost, or the stream ends.
  private holds = new Map<number, Hold>();         // pid → the queue its records wait in
  private forkCalls = new WeakMap<TraceRecord, number>();   // a fork call's record → the child (host pid)

  private hold(parent: number, child: number): void {
    const q = this.holds.get(parent);
    if (q) { this.holds.set(child, q); q.pids.push(child); return; }
    this.holds.set(child, { parent, child, recs: [], pids: [child] });
  }

  private release(h: Hold): void {
    for (const p of h.pids) if (this.holds.get(p) === h) this.holds.delete(p);
    const recs = h.recs;
    h.recs = [];
    for (let i = 0; i < recs.length; i += 2) this.out(recs[i] as TraceRecord, recs[i + 1] as number | undefined);
  }

  private releaseAll(): void {
    for (const h of new Set(this.holds.values())) this.release(h);
  }

  protected override emit(rec: TraceRecord, cgroup?: number): void {
    const pid = (rec as { pid?: number | null }).pid;
    const h = typeof pid === "number" ? this.holds.get(pid) : undefined;
    if (h) {
      h.recs.push(rec, cgroup);
      if (h.recs.length > 2 * HOLD_MAX) this.release(h);
      return;
    }
    this.out(rec, cgroup);
  }

  private out(rec: TraceRecord, cgroup: number | undefined): void {
    this.counts.records++;
    this.emitTagged(rec, cgroup);
    if (this.holds.size === 0) return;
    const child = this.forkCalls.get(rec);
    if (child !== undefined) {
      const h = this.holds.get(child);
      if (h && h.child === child) this.release(h);
    } else if (rec.type === "exit" && typeof rec.pid === "number") {
      // a parent gone without its fork call written (lost): its children's records wait no longer
      for (const h of new Set(this.holds.values())) if (h.parent === rec.pid) this.release(h);
    }
  }

  /** A frame not understood: numbered by frame, its offset and first bytes (from its length on) in hex. */
  private bad(b: Buffer, at: number, len: number, reason: string): void {
    this.unparsed(this.frames, b.toString("hex", at - 4, at + Math.min(len, 60)), reason, len > 60 ? len + 4 : undefined, this.file, this.base + at - 4);
  }

  private time(ns: number): number | undefined {
    if (this.offset === undefined) return undefined;
    return Math.round((this.offset + ns / 1e9) * 1e6) / 1e6;
  }

  private lostOne(kind: string): void { this.lostKinds[kind] = (this.lostKinds[kind] ?? 0) + 1; }

  private frame(b: Buffer, at: number, len: number): void {
    this.frames++;
    this.counts.lines++;
    if (len < HDR) { this.bad(b, at, len, "a frame shorter than its header"); return; }
    const type = b[at];
    if (!this.ready && type !== 82 /* R */) { this.bad(b, at, len, "a frame before the loader's ready frame"); return; }
    const tid = b.readUInt32LE(at + 4), pid = b.readUInt32LE(at + 8);
    const ns = u64(b, at + 16);
    const cgroup = u64(b, at + 24);
    switch (type) {
      case 67: /* C */ if (len >= CALL_HDR) { this.call(b, at, len, tid, pid, ns, cgroup); return; } break;
      case 88: /* X */ {
        const p = this.pieces(b, at + HDR, at + len)[0];
        if (!p) break;
        this.track(tid, pid);
        this.execs.set(tid, { filename: p.status === ST_FAULT ? null : strValue(b, p), cut: p.status === ST_CUT, args: [], argc: -1, status: 0, lost: p.status === ST_FAULT, fault: false });
        return;
      }
      case 65: /* A */ {
        if (len < HDR + 16) break;
        const x = this.execs.get(tid);
        if (!x) return;       // its X frame was lost: counted with the call's record
        const index = b.readUInt32LE(at + HDR), off = b.readUInt32LE(at + HDR + 4);
        const status = b.readUInt32LE(at + HDR + 8), n = b.readUInt32LE(at + HDR + 12);
        if (HDR + 16 + n > len) break;
        const bytes = b.subarray(at + HDR + 16, at + HDR + 16 + n);
        // a string that could not be read (a page not yet in memory) ends the argv: kept as "" with the
        // strings after it, it would name another command
        if (status === ST_FAULT) x.fault = true;
        if (x.fault) return;
        // a chunk that does not follow the one before: one between was lost
        if (off === 0 && index === x.args.length) x.args.push([Buffer.from(bytes)]);
        else if (off > 0 && index === x.args.length - 1) x.args[index].push(Buffer.from(bytes));
        else x.lost = true;
        return;
      }
      case 90: /* Z */ {
        const x = this.execs.get(tid);
        if (x && len >= HDR + 8) { x.argc = b.readUInt32LE(at + HDR); x.status = b.readUInt32LE(at + HDR + 4); }
        return;
      }
      case 89: /* Y: the exec succeeded with its argv not all read at its start; the new image's block */ {
        if (len < HDR + 16) break;
        const x = this.execs.get(tid);
        if (!x) return;
        const index = b.readUInt32LE(at + HDR), n = b.readUInt32LE(at + HDR + 12);
        if (HDR + 16 + n > len) break;
        x.block ??= [];
        // a chunk out of turn (one between was lost) or unread: the block is not used
        if (index === x.block.length && b.readUInt32LE(at + HDR + 8) !== ST_FAULT) x.block.push(Buffer.from(b.subarray(at + HDR + 16, at + HDR + 16 + n)));
        else x.blockBad = true;
        return;
      }
      case 87: /* W: the block's end */ {
        if (len < HDR + 8) break;
        const x = this.execs.get(tid);
        const blocks = x?.block, bad = x?.blockBad;
        if (!x || !blocks) return;
        x.block = undefined; x.blockBad = undefined;
        const total = b.readUInt32LE(at + HDR), status = b.readUInt32LE(at + HDR + 4);
        const all = Buffer.concat(blocks);
        // whole, it replaces what the start read: each string up to its NUL
        if (bad || status !== 0 || all.length !== total || all[all.length - 1] !== 0) return;
        const strings: Buffer[][] = [];
        for (let from = 0; from < all.length;) {
          const nul = all.indexOf(0, from);
          strings.push([all.subarray(from, nul)]);
          from = nul + 1;
        }
        x.args = strings; x.argc = strings.length; x.status = 0; x.lost = false; x.fault = false;
        return;
      }
      case 70: /* F */ {
        if (len < HDR + 32) break;
        const child = b.readUInt32LE(at + HDR);
        const flags = cloneFlags(b.readBigUInt64LE(at + HDR + 8));
        this.track(tid, pid);
        this.live.add(child);
        const g = flags.indexOf("CLONE_THREAD") >= 0 ? pid : child;
        let s = this.groups.get(g);
        if (!s) this.groups.set(g, s = new Set());
        s.add(child);
        this.lastChild.set(tid, child);
        this.resolver.forked(tid, child, flags);
        this.onFork?.(tid, child);
        this.hold(tid, child);
        return;
      }
      case 69: /* E */ {
        if (len < HDR + 24) break;
        const raw = b.readInt32LE(at + HDR);
        const comm = commOf(b, at + HDR + 8);
        this.live.delete(tid);
        const s = this.groups.get(pid);
        s?.delete(tid);
        // a leader that ends while its threads go on may be one whose thread is exec'ing (an S frame
        // follows): its exit waits for that, or for its last thread
        if (tid === pid && s && s.size > 0) { this.leaderExits.set(pid, { raw, comm, ns, cgroup }); return; }
        this.exit(tid, raw, comm, ns, cgroup);
        if (tid !== pid && s && s.size === 0 && this.leaderExits.has(pid)) this.leaderExit(pid);
        if (s && s.size === 0) this.groups.delete(pid);
        return;
      }
      case 83: /* S */ {
        if (len < HDR + 24) break;
        const old = b.readUInt32LE(at + HDR);
        const held = this.leaderExits.get(pid);
        this.leaderExits.delete(pid);
        this.live.delete(old); this.live.add(pid);
        this.groups.get(pid)?.delete(old);
        if (held) {
          const rec: ExitRecord = { type: "exit", pid, comm: held.comm, time: this.time(held.ns), supersededBy: old };
          if (rec.time === undefined) delete rec.time;
          this.emit(rec, held.cgroup);
        }
        const x = this.execs.get(old);
        if (x) { this.execs.delete(old); this.execs.set(pid, x); }
        this.resolver.superseded(pid, old);
        return;
      }
      case 77: /* M */ {
        if (len < HDR + 16) break;
        const id = Number(b.readBigUInt64LE(at + HDR));
        const p = this.pieces(b, at + HDR + 16, at + len)[0];
        const path = p ? decodeBytes(b, p.start, p.start + p.len) : "";
        this.cgroups.set(id, path);
        this.emit({ type: "info", time: this.time(ns), text: `cgroup ${id} made: ${path}` } as InfoRecord);
        return;
      }
      case 82: /* R */ this.readyFrame(b, at, len); return;
      case 76: /* L */ case 81: /* Q */ {
        if (len < HDR + 8 * DROP_KINDS.length) break;
        let more = 0;
        DROP_KINDS.forEach((k, i) => {
          const n = Number(b.readBigUInt64LE(at + HDR + 8 * i));
          const d = n - this.drops[i];
          if (d > 0) { more += d; this.lostKinds[k] = (this.lostKinds[k] ?? 0) + d; this.drops[i] = n; }
        });
        if (more > 0) {
          this.lost += more;
          // any process's chdir, open or close may be among them, and a parent's fork call
          this.releaseAll();
          this.emit({ type: "info", time: this.time(ns), text: `eBPF: lost ${more} events` } as InfoRecord);
          this.resolver.forget();
        }
        if (type === 81) this.ended = true;
        return;
      }
    }
    this.bad(b, at, len, `not a frame of the leastpriv eBPF loader (type ${type}, ${len} bytes)`);
  }

  private readyFrame(b: Buffer, at: number, len: number): void {
    if (len < HDR + 48) { this.bad(b, at, len, "a ready frame cut short"); return; }
    const format = b.readUInt32LE(at + HDR);
    if (!RING_FORMATS.includes(format)) { this.bad(b, at, len, `format ${format} of the eBPF loader; this version reads formats ${RING_FORMATS.join(" and ")}`); return; }
    this.mode = b.readUInt32LE(at + HDR + 4);
    this.id = Number(b.readBigUInt64LE(at + HDR + 8));
    const mono = Number(b.readBigUInt64LE(at + HDR + 16)), real = Number(b.readBigUInt64LE(at + HDR + 24));
    this.offset = real / 1e9 - mono / 1e9;
    const arch = commOf(b, at + HDR + 32);
    if (arch) { this.arch = arch; this.calls = callsByNumber(arch); this.plans.clear(); }
    this.ready = true;
    const p = this.pieces(b, at + HDR + 48, at + len)[0];
    if (this.mode === 1) {
      this.live.add(this.id);
      this.groups.set(this.id, new Set([this.id]));
      const cwd = p ? decodeBytes(b, p.start, p.start + p.len) : "";
      if (cwd.startsWith("/") && !this.cwdGiven) this.resolver = new Resolver(cwd);
    }
    this.onReady?.();
  }

  private planOf(nr: number): Plan | undefined {
    const call = this.calls.get(nr);
    if (!call) return undefined;
    const plan = planFor(call);
    this.plans.set(nr, plan);
    return plan;
  }

  /** A task's comm, decoded again only when its 16 bytes changed. */
  private commOf(tid: number, b: Buffer, at: number): string {
    const w0 = b.readInt32LE(at), w1 = b.readInt32LE(at + 4), w2 = b.readInt32LE(at + 8), w3 = b.readInt32LE(at + 12);
    const c = this.comms.get(tid);
    if (c && c.w[0] === w0 && c.w[1] === w1 && c.w[2] === w2 && c.w[3] === w3) return c.s;
    const s = commOf(b, at);
    this.comms.set(tid, { w: [w0, w1, w2, w3], s });
    return s;
  }

  private track(tid: number, pid: number): void {
    this.live.add(tid);
    let s = this.groups.get(pid);
    if (!s) this.groups.set(pid, s = new Set());
    s.add(tid);
  }

  private leaderExit(pid: number): void {
    const e = this.leaderExits.get(pid)!;
    this.leaderExits.delete(pid);
    this.exit(pid, e.raw, e.comm, e.ns, e.cgroup);
  }

  private exit(pid: number, raw: number, comm: string, ns: number, cgroup: number): void {
    this.execs.delete(pid);
    this.comms.delete(pid);
    const rec: ExitRecord = { type: "exit", pid, comm, time: this.time(ns) };
    if (rec.time === undefined) delete rec.time;
    if (raw & 0x7f) { rec.signal = signalName(raw & 0x7f); if (raw & 0x80) rec.core = true; }
    else rec.code = (raw >> 8) & 0xff;
    this.resolver.exited(pid);
    this.emit(rec, cgroup);
  }

  /** The pieces from `from` to `to`, each 8-aligned after the one before. */
  private pieces(b: Buffer, from: number, to: number, into?: (Piece & { kind: number; arg: number })[]): (Piece & { kind: number; arg: number })[] {
    const out = into ?? [];
    let at = from;
    while (at + 8 <= to) {
      const len = b.readUInt32LE(at + 4);
      if (at + 8 + len > to) break;
      out.push({ kind: b[at], arg: b[at + 1], status: b.readUInt16LE(at + 2), start: at + 8, len });
      at += (8 + len + 7) & ~7;
    }
    return out;
  }

  private call(b: Buffer, at: number, len: number, tid: number, pid: number, ns: number, cgroup: number): void {
    const nr = b.readUInt32LE(at + 12);
    const plan = this.plans.get(nr) ?? this.planOf(nr);
    if (!plan) { this.bad(b, at, len, `system call ${nr} is not one the eBPF program traces on ${this.arch}`); return; }
    const call = plan.call;
    this.track(tid, pid);
    const end = at + Math.min(len, b.readUInt16LE(at + 2) || len);
    const ret = i64(b, at + HDR);
    const comm = this.commOf(tid, b, at + 88);
    // the pieces, by the argument they carry (a frame has at most one per argument)
    const gen = ++this.pieceGen;
    for (let q = at + CALL_HDR; q + 8 <= end;) {
      const plen = b.readUInt32LE(q + 4);
      if (q + 8 + plen > end) break;
      const arg = b[q + 1];
      if (arg < 8) { this.pGen[arg] = gen; this.pStart[arg] = q + 8; this.pLen[arg] = plen; this.pStatus[arg] = b.readUInt16LE(q + 2); }
      q += (8 + plen + 7) & ~7;
    }
    let missing: number[] | undefined;
    const specs = plan.specs;
    const args: Json[] = new Array(specs.length);
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i];
      const r = at + 40 + 8 * i;        // the register as the call got it
      switch (spec.code) {
        case K_NULL: args[i] = null; continue;
        case K_FD: { const n = b.readInt32LE(r); args[i] = n === -100 ? "AT_FDCWD" : n; continue; }
        case K_INT: args[i] = b.readInt32LE(r); continue;
        case K_LONG: args[i] = i64(b, r); continue;
        case K_DEC: args[i] = this.number(spec, b.readBigUInt64LE(r), call.name); continue;
      }
      // a piece lost or unreadable: nothing is made from the register, which holds a pointer
      const status = this.pGen[i] === gen ? this.pStatus[i] : -1;
      if (status === -1 || status === ST_FAULT) { (missing ??= []).push(i); args[i] = null; continue; }
      if (status === ST_NULL) { args[i] = null; continue; }
      const p: Piece = { status, start: this.pStart[i], len: this.pLen[i] };
      switch (spec.code) {
        case K_STR: args[i] = strValue(b, p); break;
        case K_PAIR: args[i] = p.len >= 8 ? [b.readInt32LE(p.start), b.readInt32LE(p.start + 4)] : null; break;
        case K_FLAGS: args[i] = p.len >= 8 ? this.number(spec, b.readBigUInt64LE(p.start), call.name) : null; break;
        default: {
          const v = sockaddr(b, p);
          // a unix socket name is as long as the address length says (an abstract one has no NUL at its end)
          args[i] = spec.cutByLen ? cutUnixName(v, b.readInt32LE(r + 8)) : v;
        }
      }
    }
    let truncatedArgv = false;
    if (plan.exec) {
      const x = this.execs.get(tid);
      this.execs.delete(tid);
      const si = call.name === "execve" ? 0 : 1;
      if (x) {
        args[si] = x.filename;
        // the strings up to the first that was lost: an argv with a hole would name another command
        const complete = x.argc >= 0 && !x.lost && !x.fault && x.args.length === x.argc;
        args[si + 1] = x.args.map((parts) => decodeBytes(parts.length === 1 ? parts[0] : Buffer.concat(parts)));
        truncatedArgv = !complete || x.status === ARGV_CUT || x.cut;
        if (x.filename === null) (missing ??= []).push(si);
        if (!complete) (missing ??= []).push(si + 1);
      } else (missing ??= []).push(si, si + 1);     // the X frame was lost
    }
    if (missing) this.lostOne("argument");
    if (call.name === "utimensat" && args[1] === "") args[1] = null;
    if (plan.open && !/O_CREAT|O_TMPFILE/.test(String(args[call.name === "open" ? 1 : 2]))) args.pop();
    const parts: CallParts = { args, closed: true, ret, hasRet: true };
    let forked: number | undefined;
    if (plan.fork) {
      // inside a pid namespace the call returns the child's number there; the fork frame gave the host's
      const host = this.lastChild.get(tid);
      this.lastChild.delete(tid);
      if (host !== undefined && ret > 0 && host !== ret) parts.retnote = `/* ${host} in the tracer's PID NS */`;
      if (host !== undefined && ret > 0) forked = host;
    }
    if (ret < 0 && ret > -4096) {
      parts.ret = -1;
      const [name, msg] = errnoOf(-ret);
      parts.errno = name;
      parts.errmsg = msg;
    }
    const rec: SyscallRecord = this.resolver.record(missing ? { pid: tid, comm, time: this.time(ns), name: call.name, parts, missing } : { pid: tid, comm, time: this.time(ns), name: call.name, parts });
    if (rec.time === undefined) delete rec.time;
    if (truncatedArgv) rec.argvTruncated = true;
    if (missing) rec.missing = missing;
    if (forked !== undefined) this.forkCalls.set(rec, forked);
    this.emit(rec, cgroup);
  }

  /** A number argument with a decoder, as strace prints it. */
  private number(spec: ArgKind, u: bigint, name: string): Json {
    // the same flags come again and again: their text is kept, up to a bound (a program may pass any)
    let text = spec.texts.get(u);
    if (text === undefined) {
      const n = spec.kind === "i" ? BigInt.asIntN(32, u) : u;
      text = decode(spec.dec!, n, this.arch, name);
      if (spec.texts.size < 1024) spec.texts.set(u, text);
    }
    if (spec.dec === "clone" && name === "clone3") return { flags: text };
    if (spec.dec === "clone" && name === "clone") return "flags=" + text;
    return text;
  }
}

// 64-bit numbers as JS numbers without a BigInt (exact below 2^53: times, cgroup ids, return values)
function u64(b: Buffer, at: number): number { return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4294967296; }
function i64(b: Buffer, at: number): number { return b.readUInt32LE(at) + b.readInt32LE(at + 4) * 4294967296; }

/** A string piece: marked truncated when it was longer than was read. */
function strValue(b: Buffer, p: Piece): Json {
  const s = decodeBytes(b, p.start, p.start + p.len);
  return p.status === ST_CUT ? { str: s, truncated: true } : s;
}

/** A NUL-ended name of at most 16 bytes (comm, the architecture). */
function commOf(b: Buffer, at: number): string {
  let e = at;
  while (e < at + 16 && b[e] !== 0) e++;
  return decodeBytes(b, at, e);
}

const FAMILIES: Record<number, string> = { 0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET" };

/** A socket address piece (family, then what the kernel side read for it) as strace decodes it. */
function sockaddr(b: Buffer, p: Piece): Json {
  if (p.len < 2) return null;
  const fam = b.readUInt16LE(p.start);
  const family = FAMILIES[fam] ?? `AF_${fam}`;
  const d = p.start + 2;
  if (fam === 2 && p.len >= 8) return { sa_family: family, sin_port: b.readUInt16BE(d), sin_addr: `${b[d + 2]}.${b[d + 3]}.${b[d + 4]}.${b[d + 5]}` };
  if (fam === 10 && p.len >= 24) return { sa_family: family, sin6_port: b.readUInt16BE(d), sin6_addr: ipv6(b.readBigUInt64LE(d + 6), b.readBigUInt64LE(d + 14)) };
  if (fam === 1) {
    if (p.len <= 2) return { sa_family: family };
    const abstract = b[d] === 0;
    const name = decodeBytes(b, abstract ? d + 1 : d, p.start + p.len);
    if (name === "" && !abstract) return { sa_family: family };
    return { sa_family: family, sun_path: abstract ? { abstract: name } : name };
  }
  return { sa_family: family };
}

function cloneFlags(n: bigint): string {
  const t = decode("clone", n & ~0xffn, "x86_64");
  return t === "0" ? "" : t;
}

const SIGNALS = new Map<number, string>();
for (const [name, num] of Object.entries(osConstants.signals)) if (!SIGNALS.has(num) && name !== "SIGIOT" && name !== "SIGPOLL") SIGNALS.set(num, name);
function signalName(n: number): string { return SIGNALS.get(n) ?? String(n); }
