// An AppArmor profile (apparmor.d(5)) from a profile's summaries: file rules with the modes the run
// used, network rules for the families and socket types seen, capability rules for the privileges
// inferred. Only the globs the tools made (a summary's `pattern`: normalised names, --collapse's
// DIR/**) become AppArmor globs; every character of a real name stands for itself (lib/render.ts).

import type { ProfileHeader, Summary } from "../profile/summary.js";
import { READ_OPS, WRITE_OPS } from "../trace/syscalls.js";
import { aaLine, aaName, aaNote, aaPath, document, join, txt, type Generated, type Rendered } from "../render.js";

// a shared object as the loader (or dlopen) names it: libc.so.6, _json.cpython-311-x86_64-linux-gnu.so
const SHARED_OBJECT = /\.so(\.[0-9]+)*$/;

/**
 * The modes for what succeeded: a policy allows what worked, not what was tried. readlink is not an
 * operation AppArmor mediates, so a link only read as a link (the name as called, beside the file it
 * leads to) gets no rule; a shared object read is mapped executable by whoever loads it (`m`).
 */
function modes(s: Summary): string {
  const ops = (s.okOps ?? []).filter((o) => o !== "readlink");
  const read = ops.some((o) => READ_OPS.has(o)) || ops.includes("map");
  let m = "";
  if (ops.includes("map") || (read && SHARED_OBJECT.test(s.path!.slice(s.path!.lastIndexOf("/") + 1)))) m += "m";
  if (read) m += "r";
  if (ops.some((o) => WRITE_OPS.has(o))) m += "w";
  if (ops.includes("exec")) m += "ix";
  return m;
}

const TYPE: Record<string, string> = { TCP: "stream", TCPv6: "stream", UDP: "dgram", UDPv6: "dgram", RAW: "raw", RAWv6: "raw", "UNIX-STREAM": "stream", "UNIX-DGRAM": "dgram" };

/** A summary's path as a rule's path: its pattern when the tools made part of it general, else the literal name. */
function rulePath(s: Summary, dirSlash: boolean): Rendered<"apparmor"> {
  const p = s.pattern ?? [s.path!];
  return aaPath(dirSlash ? [...p, "/"] : p);
}

export function apparmorProfile(h: ProfileHeader, items: Summary[], version: string, name?: string): Generated {
  const warnings: string[] = [];
  // the traced command's program: the file the run (or the container) started with; matched by the
  // name it was run by (sh), attached by the file the kernel runs (/usr/bin/dash): AppArmor attaches
  // profiles by the resolved path. A stream from before entrypoints were recorded: by argv[0]'s name.
  const first = h.commands[0]?.[0];
  const execs = items.filter((s) => s.kind === "exec" && s.ok > 0 && s.path?.startsWith("/"));
  const base = first?.split("/").pop();
  const entry = h.entrypoints?.map((p) => execs.find((s) => s.path === p)).filter((s) => s !== undefined);
  const byName = first ? execs.find((s) => [s.path!, ...(s.names ?? [])].some((n) => n === first || n.endsWith("/" + base))) : undefined;
  const prog = entry?.find((s) => s === byName) ?? entry?.[0] ?? byName ?? execs[0];
  const program = prog?.path;
  const wanted = name ?? (prog && prog === byName && base ? base : program ? program.split("/").pop()! : "traced");
  let profName = aaName(wanted);
  if (!profName) {
    warnings.push(`${wanted}: not a name an AppArmor profile can have as it is: the profile is named "traced"`);
    profName = aaName("traced")!;
  }
  const lines: Rendered<"apparmor">[] = [];
  const what = h.commands.length ? join(h.commands.map((c) => txt`${c.join(" ")}`), "; ", "text") : txt`a traced run`;
  lines.push(aaNote`trace-policy ${version}: what ${what} did${h.start !== undefined ? txt` at ${new Date(h.start * 1000).toISOString()}` : txt``}.`);
  lines.push(aaNote`${h.warning}`);
  lines.push(aaLine`abi <abi/3.0>,`, aaLine`include <tunables/global>`, aaLine``);
  lines.push(program && !name ? aaLine`profile ${profName} ${rulePath(prog!, false)} flags=(attach_disconnected) {` : aaLine`profile ${profName} flags=(attach_disconnected) {`);
  lines.push(aaLine`  include <abstractions/base>`, aaLine``);
  const files = items.filter((s) => s.kind === "file" && !s.probe && s.path?.startsWith("/") && modes(s) !== "");
  if (files.length) lines.push(aaLine`  ${aaNote`files, with the modes the run used`}`);
  for (const s of files) {
    const collapsed = s.pattern?.length && typeof s.pattern[s.pattern.length - 1] !== "string";
    const dir = (s.okOps ?? []).includes("list") && !collapsed && s.path !== "/";
    lines.push(aaLine`  ${rulePath(s, dir)} ${modes(s)},`);
  }
  const nets = new Map<string, Rendered<"apparmor">>();     // by text: one rule per family and type
  for (const s of items) {
    if (s.kind !== "net" || s.role !== "socket" || !s.addr) continue;
    const type = s.addr.proto ? TYPE[s.addr.proto] : undefined;
    const fam = /^[a-z0-9]+$/.test(s.addr.family) ? aaName(s.addr.family) : undefined;
    if (!fam) { warnings.push(`socket family ${s.addr.family}: not a family name: no network rule for it`); continue; }
    const rule = type ? aaLine`  network ${fam} ${aaName(type)!},` : aaLine`  network ${fam},`;
    nets.set(rule.text, rule);
  }
  if (nets.size) lines.push(aaLine``, aaLine`  ${aaNote`sockets opened`}`, ...[...nets.keys()].sort().map((k) => nets.get(k)!));
  const caps = [...new Set(items.filter((s) => s.kind === "priv" && s.capability).map((s) => s.capability!))].sort();
  if (caps.length) {
    lines.push(aaLine``, aaLine`  ${aaNote`privileges the run used`}`);
    for (const c of caps) {
      const cap = /^CAP_[A-Z_]+$/.test(c) ? aaName(c.replace(/^CAP_/, "").toLowerCase()) : undefined;
      if (!cap) { warnings.push(`capability ${c}: not a capability name: no rule for it`); continue; }
      const ev = items.find((s) => s.capability === c)?.evidence?.[0];
      lines.push(ev ? aaLine`  capability ${cap},  ${aaNote`${ev}`}` : aaLine`  capability ${cap},`);
    }
  }
  lines.push(aaLine`}`);
  return { text: document(lines), warnings };
}
