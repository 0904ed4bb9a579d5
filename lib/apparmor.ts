// An AppArmor profile (apparmor.d(5)) from a profile's summaries: file rules with the modes the run
// used, network rules for the families and socket types seen, capability rules for the privileges
// inferred. Globs from trace-summarize's collapse and normalisation become AppArmor globs.

import type { ProfileHeader, Summary } from "./summary.js";
import { READ_OPS, WRITE_OPS } from "./syscalls.js";

/** A path as an AppArmor path expression: literal characters escaped, our placeholders as globs. */
export function aaPath(p: string): string {
  let out = p.replace(/[\\*?[\]{}^"]/g, (c) => "\\" + c);
  out = out.replace(/\\\*\\\*$/, "**")                         // our DIR/** collapse
    .replace(/<pid>/g, "@{pid}").replace(/<tid>/g, "@{tid}")
    .replace(/<n>/g, "[0-9]*").replace(/<tmp>/g, "*").replace(/<id>/g, "*");
  return /[\s,#]/.test(out) || /[^\x21-\x7e]/.test(out) ? `"${out}"` : out;
}

/** The modes for what succeeded: a policy allows what worked, not what was tried. */
function modes(s: Summary): string {
  const ops = s.okOps ?? [];
  let m = "";
  if (ops.includes("map")) m += "m";
  if (ops.some((o) => READ_OPS.has(o)) || ops.includes("map")) m += "r";
  if (ops.some((o) => WRITE_OPS.has(o))) m += "w";
  if (ops.includes("exec")) m += "ix";
  return m;
}

const TYPE: Record<string, string> = { TCP: "stream", TCPv6: "stream", UDP: "dgram", UDPv6: "dgram", RAW: "raw", RAWv6: "raw", "UNIX-STREAM": "stream", "UNIX-DGRAM": "dgram" };

export function apparmorProfile(h: ProfileHeader, items: Summary[], version: string, name?: string): string {
  // the traced command's program: the exec of the first command's name
  const first = h.commands[0]?.[0];
  const execs = items.filter((s) => s.kind === "exec" && s.ok > 0 && s.path?.startsWith("/"));
  const program = (first && execs.find((s) => s.path === first || s.path!.endsWith("/" + first.split("/").pop()))?.path) ?? execs[0]?.path;
  const profName = name ?? (program ? program.split("/").pop()! : "traced");
  const lines: string[] = [];
  const what = h.commands.map((c) => c.join(" ")).join("; ") || "a traced run";
  lines.push(`# trace-policy ${version}: what ${what} did${h.start !== undefined ? " at " + new Date(h.start * 1000).toISOString() : ""}.`);
  lines.push("# " + h.warning);
  lines.push("abi <abi/3.0>,", "include <tunables/global>", "");
  const attach = program && !name ? " " + aaPath(program) : "";
  lines.push(`profile ${profName}${attach} flags=(attach_disconnected) {`);
  lines.push("  include <abstractions/base>", "");
  const files = items.filter((s) => s.kind === "file" && !s.probe && s.path?.startsWith("/") && modes(s) !== "");
  if (files.length) lines.push("  # files, with the modes the run used");
  for (const s of files) {
    const dir = (s.okOps ?? []).includes("list") && !s.path!.endsWith("/**") ? "/" : "";
    lines.push(`  ${aaPath(s.path! + (dir && s.path !== "/" ? dir : ""))} ${modes(s)},`);
  }
  const nets = new Set<string>();
  for (const s of items) {
    if (s.kind !== "net" || s.role !== "socket" || !s.addr) continue;
    const type = s.addr.proto ? TYPE[s.addr.proto] : undefined;
    const fam = s.addr.family === "unix" ? "unix" : s.addr.family;
    nets.add(`  network ${fam}${type ? " " + type : ""},`);
  }
  if (nets.size) lines.push("", "  # sockets opened", ...[...nets].sort());
  const caps = [...new Set(items.filter((s) => s.kind === "priv" && s.capability).map((s) => s.capability!))].sort();
  if (caps.length) {
    lines.push("", "  # privileges the run used");
    for (const c of caps) {
      const ev = items.find((s) => s.capability === c)?.evidence?.[0];
      lines.push(`  capability ${c.replace(/^CAP_/, "").toLowerCase()},${ev ? "  # " + ev : ""}`);
    }
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}
