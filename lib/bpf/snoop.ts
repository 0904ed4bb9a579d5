// Output of bpftrace's own tools, brought in as a best effort: opensnoop.bt (PID COMM FD ERR PATH),
// execsnoop.bt (TIME(ms) PID ARGS) and tcpconnect.bt (TIME PID COMM SADDR SPORT DADDR DPORT). They
// say less than a trace: no open flags (op is "open"), no exec result and argv joined by spaces (split
// back at spaces), no connect result (ok is null). Paths they print relative stay relative (cwdUnknown).

import { errnoOf } from "./bpftrace.js";
import { normalize } from "../trace/paths.js";
import type { SyscallRecord } from "../io/records.js";
import { ReaderShell, type Emit, type LineReader, type ReaderOptions } from "../trace/reader.js";

export type SnoopTool = "opensnoop" | "execsnoop" | "tcpconnect";

/** Which tool printed this header line, if one did. */
export function snoopHeader(line: string): SnoopTool | undefined {
  if (/^Tracing open syscalls/.test(line) || /^PID\s+COMM\s+FD\s+ERR\s+PATH/.test(line)) return "opensnoop";
  if (/^TIME\(ms\)\s+PID\s+ARGS/.test(line)) return "execsnoop";
  if (/^Tracing tcp connections/.test(line) || /^TIME\s+PID\s+COMM\s+SADDR\s+SPORT\s+DADDR\s+DPORT/.test(line)) return "tcpconnect";
  return undefined;
}

export class SnoopReader extends ReaderShell implements LineReader {
  readonly input = "lines";

  constructor(private readonly tool: SnoopTool, emit: Emit, opts: ReaderOptions = {}) { super(emit, opts); }

  startFile(file: string): void { this.file = file; }
  end(): void { /* nothing held */ }

  line(text: string, no: number, fullLength?: number): void {
    this.counts.lines++;
    if (fullLength !== undefined) { this.unparsed(no, text, "line longer than the limit", fullLength); return; }
    if (text.trim() === "" || /^Attaching \d+ probes/.test(text) || snoopHeader(text)) return;
    const rec = this.tool === "opensnoop" ? open(text) : this.tool === "execsnoop" ? exec(text) : connect(text);
    if (rec) { this.emit(rec); return; }
    this.unparsed(no, text, `not a line of ${this.tool}.bt`);
  }
}

function base(pid: number, comm: string | undefined, syscall: string, kind: SyscallRecord["kind"], op: string): SyscallRecord {
  const rec = { type: "syscall", pid } as SyscallRecord;
  if (comm) rec.comm = comm;
  rec.syscall = syscall; rec.kind = kind; rec.op = op;
  return rec;
}

function withPath(rec: SyscallRecord, p: string): void {
  if (p.startsWith("/")) rec.path = normalize(p);
  else { rec.path = p; rec.cwdUnknown = true; }
}

/** "%-6d %-16s %4d %3d %s": the command name is the 16 columns after the pid (when it fits in 6). */
function open(text: string): SyscallRecord | undefined {
  const m = /^(\d+) /.exec(text);
  if (!m) return undefined;
  const at = m[1].length <= 6 ? 7 : m[1].length + 1;
  const comm = text.slice(at, at + 16).trimEnd();
  const r = /^ *(-?\d+) +(\d+) (.*)$/.exec(text.slice(at + 16));
  if (!r) return undefined;
  const fd = Number(r[1]), err = Number(r[2]);
  const rec = base(Number(m[1]), comm, "openat", "file", "open");
  rec.ok = fd >= 0;
  withPath(rec, r[3]);
  rec.args = ["AT_FDCWD", r[3]];
  rec.ret = fd >= 0 ? fd : -1;
  if (fd < 0 && err > 0) { const [name, msg] = errnoOf(err); rec.errno = name; rec.errmsg = msg; }
  return rec;
}

/** "%-10u %-5d " then the argv joined by spaces. */
function exec(text: string): SyscallRecord | undefined {
  const m = /^(\d+) +(\d+) (.*)$/.exec(text);
  if (!m) return undefined;
  const argv = m[3].split(" ").filter((a, i, all) => a !== "" || i < all.length - 1);
  const rec = base(Number(m[2]), undefined, "execve", "exec", "exec");
  rec.ok = null;
  if (argv[0]?.includes("/")) withPath(rec, argv[0]);
  rec.argv = argv;
  rec.args = [argv[0] ?? "", argv];
  rec.ret = null;
  return rec;
}

/** "%-8s %-8d %-16s %-39s %-6d %-39s %-6d": the command name is whatever lies between pid and addresses. */
function connect(text: string): SyscallRecord | undefined {
  const t = text.trim().split(/\s+/);
  if (t.length < 7 || !/^\d\d:\d\d:\d\d$/.test(t[0]) || !/^\d+$/.test(t[1])) return undefined;
  const [dport, daddr, sport, saddr] = [t[t.length - 1], t[t.length - 2], t[t.length - 3], t[t.length - 4]];
  if (!/^\d+$/.test(dport) || !/^\d+$/.test(sport)) return undefined;
  const comm = t.slice(2, t.length - 4).join(" ");
  const v6 = daddr.includes(":");
  const rec = base(Number(t[1]), comm, "connect", "net", "connect");
  rec.ok = null;
  rec.addr = { family: v6 ? "inet6" : "inet", proto: v6 ? "TCPv6" : "TCP", ip: daddr, port: Number(dport) };
  rec.args = [null, v6 ? { sa_family: "AF_INET6", sin6_port: Number(dport), sin6_addr: daddr } : { sa_family: "AF_INET", sin_port: Number(dport), sin_addr: daddr }];
  rec.ret = null;
  if (!saddr) return undefined;
  return rec;
}
