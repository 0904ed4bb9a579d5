// The verdict: the four answers a security department asks of a tool before it is installed — what
// does it read, does it change the system, does it talk to the network, what does it cost — plus
// whether it used privilege, each answer drawn from a profile's summaries (the evidence).

import { readFileSync } from "node:fs";
import micromatch from "micromatch";
import { UserError } from "../errors.js";
import { endpointText } from "./report.js";
import type { Addr } from "../io/records.js";
import type { ProfileHeader, RunCost, Summary } from "./summary.js";
import { READ_OPS } from "../trace/syscalls.js";

/** What counts as sensitive to read, as globs (trace-summarize --sensitive FILE replaces the list). */
export const SENSITIVE: string[] = [
  "/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d/**",
  "/etc/ssh/ssh_host_*_key", "/etc/ssl/private/**", "/etc/krb5.keytab", "/root/**", "/home/*/.ssh/**",
  "/home/*/.gnupg/**", "/home/*/.aws/**", "/home/*/.docker/config.json", "/home/*/.netrc", "/home/*/.kube/**",
  "**/*.pem", "**/*.key", "**/id_rsa", "**/id_ed25519", "**/id_ecdsa", "/run/secrets/**", "/var/lib/*/secrets/**",
  "/proc/<pid>/environ", "/proc/<pid>/mem", "/proc/<pid>/maps", "/proc/<pid>/fd/**", "/proc/<pid>/cwd", "/proc/<pid>/root",
  "/proc/kcore", "/dev/mem", "/dev/kmem", "/var/run/docker.sock", "/run/docker.sock", "/var/mail/**", "/var/spool/mail/**",
];

/** Sensitive globs from a file: one a line; blank lines and # comments skipped. */
export function loadSensitive(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  } catch (e) { throw new UserError(`${file}: ${(e as Error).message}`); }
}

const TEMP = /^(\/tmp|\/var\/tmp|\/dev\/shm|\/run\/user\/\d+|\/run\/user\/<[^>]+>|\/proc\/self)(\/|$)/;
// device nodes whose writes change nothing kept: a write to any other (/dev/loop0, /dev/sda, /dev/mem) is a change
const HARMLESS_DEV = /^\/dev\/(null|zero|full|random|urandom|tty|console|ptmx|stdin|stdout|stderr|pts\/(<n>|\d+|ptmx)|fd\/\d+)$/;
const CHANGE: { [op: string]: keyof Changed } = {
  create: "created", mkdir: "created", mknod: "created", symlink: "created", link: "created",
  write: "written", readwrite: "written", utime: "written", setxattr: "written",
  delete: "deleted", rename: "renamed", chmod: "modes", chown: "modes",
};
// where a write means more than a file: the system's packages, services, users, and the kernel's state
const SYSTEM: [keyof SystemChanges, RegExp][] = [
  ["packages", /^\/(var\/lib\/(dpkg|rpm|apt)|usr\/(bin|sbin|lib|lib64|share)|bin|sbin|lib|lib64)(\/|$)/],
  ["services", /^\/(etc\/systemd|lib\/systemd|usr\/lib\/systemd|etc\/init\.d|etc\/cron[^/]*|var\/spool\/cron)(\/|$)/],
  ["users", /^\/etc\/(passwd|group|shadow|gshadow|sudoers(\.d)?|subuid|subgid)(\/|$|-)/],
  ["kernel", /^\/(proc\/sys|sys|etc\/sysctl\.(conf|d)|etc\/modules(-load\.d)?|etc\/modprobe\.d)(\/|$)/],
];
/** A file whose writes the answers do not count as changes: a temporary one, or a device such as /dev/null. */
export function changesNothing(path: string): boolean {
  return (TEMP.test(path) || HARMLESS_DEV.test(path)) && !SYSTEM.some(([, re]) => re.test(path));
}
const KERNEL_OPS = new Set(["module", "mount", "umount", "swap", "settime", "sethostname", "kexec", "reboot", "bpf", "acct", "quota"]);

export interface Changed { created: string[]; written: string[]; deleted: string[]; renamed: string[]; modes: string[] }
export interface SystemChanges { packages: string[]; services: string[]; users: string[]; kernel: string[] }

export interface Verdict {
  type: "verdict";
  v: number;
  commands: string[][];
  reads: { files: number; sensitive: string[] };
  changes: boolean;
  changed: Changed;
  system: SystemChanges;
  network: { talks: boolean; peers: { peer: string; proto?: string; ops: string[]; sent?: number; received?: number }[]; tried: string[];
    connecting: string[]; listeners: string[]; dns: string[] };
  /** root: null when no run record said who ran it (a tracer's log parsed on its own) */
  privilege: { root: boolean | null; capabilities: string[]; operations: string[] };
  cost: RunCost & { bytesRead?: number; bytesWritten?: number; bytesSent?: number; bytesReceived?: number;
    filesystems?: { mount: string; read: number; written: number }[] };
  notMeasured: string[];     // what the trace did not measure, so that no answer reads as a zero
  incomplete?: string[];     // the profile's reasons why its trace is incomplete (events lost, cut short)
  warning: string;
}

/** The calls that move a file's bytes: a trace without any (trace-run without --cost) cannot tell them. */
const BYTE_CALLS = ["read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2",
  "sendfile", "copy_file_range", "splice"];

const MAX = 20;
const push = (l: string[], x: string) => { if (!l.includes(x)) l.push(x); };

/** Mount points of this host, longest first (/proc/self/mounts; octal escapes decoded). */
export function mountPoints(): string[] {
  try {
    return readFileSync("/proc/self/mounts", "utf8").split("\n").filter(Boolean)
      .map((l) => l.split(" ")[1].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
      .sort((a, b) => b.length - a.length);
  } catch { return ["/"]; }
}

export function verdictOf(h: ProfileHeader, items: Summary[], sensitive: string[] = SENSITIVE, mounts: string[] = ["/"]): Verdict {
  const v: Verdict = {
    type: "verdict", v: 1, commands: h.commands,
    reads: { files: 0, sensitive: [] }, changes: false,
    changed: { created: [], written: [], deleted: [], renamed: [], modes: [] },
    system: { packages: [], services: [], users: [], kernel: [] },
    network: { talks: false, peers: [], tried: [], connecting: [], listeners: [], dns: [] },
    privilege: { root: h.users.length ? h.users.includes("root") : null, capabilities: [], operations: [] },
    cost: { ...(h.cost ?? {}) }, notMeasured: [], warning: h.warning,
  };
  const incomplete = (h as { incomplete?: unknown }).incomplete;
  if (Array.isArray(incomplete) && incomplete.length) v.incomplete = incomplete.map(String);
  if (!BYTE_CALLS.some((c) => h.syscalls[c])) v.notMeasured.push("file bytes", "socket bytes moved by read and write");
  if (h.cost?.cpuUser === undefined) v.notMeasured.push("CPU and memory");
  const fs = new Map<string, { mount: string; read: number; written: number }>();
  const add = (k: "bytesRead" | "bytesWritten" | "bytesSent" | "bytesReceived", n?: number) => { if (n) v.cost[k] = (v.cost[k] ?? 0) + n; };
  for (const s of items) {
    const ok = s.okOps ?? [];
    if (s.kind === "file" && s.path && !s.probe) {
      add("bytesRead", s.bytesRead); add("bytesWritten", s.bytesWritten);
      if (s.bytesRead || s.bytesWritten) {
        const m = mounts.find((x) => x === "/" || s.path === x || s.path!.startsWith(x + "/")) ?? "/";
        const f = fs.get(m) ?? { mount: m, read: 0, written: 0 };
        f.read += s.bytesRead ?? 0; f.written += s.bytesWritten ?? 0;
        fs.set(m, f);
      }
      if (ok.some((o) => READ_OPS.has(o) || o === "readwrite" || o === "exec")) {
        v.reads.files++;
        // the file read (its canonical path), and the names it was read by: either on the list is worth a look
        const hit = [s.path, ...(s.names ?? [])].find((p) => micromatch.isMatch(p, sensitive, { dot: true }));
        if (hit) push(v.reads.sensitive, hit === s.path ? s.path : `${s.path} (as ${hit})`);
      }
      // (the path's standing is the same for each of its operations)
      const counts = ok.some((o) => CHANGE[o]) && !changesNothing(s.path);
      const sys = counts ? SYSTEM.find(([, re]) => re.test(s.path!)) : undefined;
      for (const o of counts ? ok : []) {
        const cat = CHANGE[o];
        if (!cat) continue;
        push(v.changed[cat], s.path);
        if (sys) push(v.system[sys[0]], s.path);
      }
    }
    if (s.kind === "net" && s.addr) {
      const a = s.addr;
      const ip = a.family === "inet" || a.family === "inet6";
      // a non-blocking connect left under way, and nothing else on the socket: whether it got through is not known
      const underWay = s.role === "peer" && ip && s.pending !== undefined && s.pending >= s.ok && ok.every((o) => o === "connect") && !s.bytesSent && !s.bytesReceived;
      if (underWay) push(v.network.connecting, `${protoEndpoint(a)} (${Object.keys(s.errors ?? {}).length ? Object.keys(s.errors).sort().join(", ") + "; " : ""}under way, outcome not traced)`);
      else if (s.role === "peer" && (ok.length || s.bytesSent || s.bytesReceived)) {
        if (a.family !== "unix" && a.family !== "netlink") v.network.talks = true;
        const p: Verdict["network"]["peers"][number] = { peer: peerText(a), ops: ok.length ? ok : s.ops };
        if (a.proto) p.proto = a.proto;
        if (s.bytesSent) p.sent = s.bytesSent;
        if (s.bytesReceived) p.received = s.bytesReceived;
        add("bytesSent", s.bytesSent); add("bytesReceived", s.bytesReceived);
        v.network.peers.push(p);
        if (ip && a.port === 53) push(v.network.dns, endpointText(a));
      }
      // an IP peer only ever failed: it did not talk, but a reviewer wants to know it tried
      else if (s.role === "peer" && ip) push(v.network.tried, `${protoEndpoint(a)} (${Object.keys(s.errors ?? {}).sort().join(", ") || "no result"})`);
      if (s.role === "local" && ok.includes("listen") || (s.role === "local" && ok.includes("bind") && a.proto?.startsWith("UDP"))) {
        if (ip) v.network.talks = true;
        push(v.network.listeners, protoEndpoint(a));
      }
    }
    if (s.kind === "priv" && s.ok > 0) {
      if (s.capability) push(v.privilege.capabilities, s.capability);
      push(v.privilege.operations, `${s.op}${s.capability ? " (" + s.capability + ")" : ""}: ${(s.evidence ?? []).slice(0, 2).join("; ")}`);
      if (s.op && KERNEL_OPS.has(s.op)) push(v.system.kernel, `${s.op}: ${(s.evidence ?? [])[0] ?? ""}`);
    }
  }
  v.changes = Object.values(v.changed).some((l) => l.length) || Object.values(v.system).some((l) => l.length);
  // long lists are cut, with the count kept where it matters
  for (const k of Object.keys(v.changed) as (keyof Changed)[]) v.changed[k] = v.changed[k].sort().slice(0, MAX);
  for (const k of Object.keys(v.system) as (keyof SystemChanges)[]) v.system[k] = v.system[k].sort().slice(0, MAX);
  v.reads.sensitive = v.reads.sensitive.sort().slice(0, MAX);
  v.network.peers = v.network.peers.slice(0, MAX);
  v.network.tried = v.network.tried.sort().slice(0, MAX);
  v.network.connecting = v.network.connecting.sort().slice(0, MAX);
  v.privilege.capabilities.sort();
  if (fs.size) v.cost.filesystems = [...fs.values()].sort((a, b) => b.read + b.written - a.read - a.written).slice(0, MAX);
  return v;
}

/** "1.0 MiB" */
export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let x = n / 1024, i = 0;
  while (x >= 1024 && i < u.length - 1) { x /= 1024; i++; }
  return `${x.toFixed(1)} ${u[i]}`;
}

/** The answers as text, for the top of trace-summarize's report. */
export function verdictText(v: Verdict): string[] {
  const out: string[] = ["The answers (the evidence follows):"];
  const list = (l: string[], n = 3) => l.slice(0, n).join(", ") + (l.length > n ? `, … ${l.length - n} more` : "");
  if (v.incomplete?.length) out.push(`  Trace:      incomplete — ${v.incomplete.join("; ")}: what was lost is in no answer below`);
  out.push(`  Reads:      ${v.reads.files} file${v.reads.files === 1 ? "" : "s"} read, listed or run successfully; ` +
    (v.reads.sensitive.length ? `sensitive: ${list(v.reads.sensitive, 5)}` : "nothing on the sensitive list"));
  if (!v.changes) out.push("  Changes:    no — nothing created, written, deleted, renamed or chmod/chown'd outside temporary directories");
  else {
    const parts = (Object.entries(v.changed) as [string, string[]][]).filter(([, l]) => l.length).map(([k, l]) => `${k} ${list(l)}`);
    const sys = (Object.entries(v.system) as [string, string[]][]).filter(([, l]) => l.length).map(([k, l]) => `${k}: ${list(l, 2)}`);
    out.push(`  Changes:    yes — ${parts.join("; ")}${sys.length ? `; the system's ${sys.join("; ")}` : ""}`);
  }
  const peers = v.network.peers.map((p) => p.peer + (p.sent || p.received ? ` (sent ${bytesText(p.sent ?? 0)}, received ${bytesText(p.received ?? 0)})` : ""));
  out.push(`  Network:    ${v.network.talks ? "yes" : "no"} — ${peers.length ? `peers ${list(peers)}` : "no peers"}; ` +
    `${v.network.tried.length ? `tried ${list(v.network.tried)} and failed; ` : ""}` +
    `${v.network.connecting.length ? `began to connect to ${list(v.network.connecting)}; ` : ""}` +
    `${v.network.listeners.length ? `listens on ${list(v.network.listeners)}` : "no listeners"}; ${v.network.dns.length ? `DNS via ${v.network.dns.join(", ")}` : "no DNS queries seen"}`);
  const who = v.privilege.root === null ? "who it ran as is not recorded (no run record)" : v.privilege.root ? "ran as root" : "ran without root";
  out.push(`  Privilege:  ${who}; ` +
    (v.privilege.operations.length ? `privileged operations: ${list(v.privilege.operations, 2)}` : "no privileged operation seen"));
  const c = v.cost;
  const cpu = c.cpuUser !== undefined ? `CPU ${c.cpuUser.toFixed(2)} s user + ${(c.cpuSystem ?? 0).toFixed(2)} s system` : "CPU not measured";
  const mem = c.peakMemory !== undefined ? `, peak memory ${bytesText(c.peakMemory)}` : "";
  const fileBytes = !v.notMeasured.includes("file bytes");
  const netBytes = c.bytesSent !== undefined || c.bytesReceived !== undefined;
  const net = `network sent ${bytesText(c.bytesSent ?? 0)}, received ${bytesText(c.bytesReceived ?? 0)}`;
  const io = fileBytes
    ? `; files read ${bytesText(c.bytesRead ?? 0)}, written ${bytesText(c.bytesWritten ?? 0)}` +
      (c.filesystems?.length ? ` (${c.filesystems.slice(0, 3).map((f) => `${f.mount}: ${bytesText(f.read)} read, ${bytesText(f.written)} written`).join("; ")})` : "") +
      `; ${net}`
    // send and receive calls are traced without --cost, read and write (of files or sockets) are not
    : netBytes ? `; file bytes not counted (trace with trace-run --cost); ${net} by send and receive calls (read and write not traced)`
    : "; bytes not counted (trace with trace-run --cost)";
  out.push(`  Cost:       ${cpu}${mem}${c.processes !== undefined ? `, ${c.processes} process${c.processes === 1 ? "" : "es"}` : ""}` +
    `${c.wall !== undefined ? `, ${c.wall.toFixed(2)} s wall` : ""}${io}`);
  return out;
}

/** A peer as the verdict names it: IP endpoints as they are, local ones with their family. */
function peerText(a: Addr): string {
  return `${a.family === "unix" || a.family === "netlink" ? a.family + " " : ""}${endpointText(a)}`;
}

/** "TCP 127.0.0.1:9": the protocol, when known, before the endpoint. */
function protoEndpoint(a: Addr): string {
  return `${a.proto ? a.proto + " " : ""}${endpointText(a)}`;
}
