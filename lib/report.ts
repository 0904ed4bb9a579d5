// The human-readable form of a profile (trace-summarize --format text): grouped by kind, with counts.
// Colour only when asked for (a terminal, and neither NO_COLOR nor TERM=dumb).

import type { Addr } from "./records.js";
import type { ProfileHeader, Summary } from "./summary.js";
import { READ_OPS, WRITE_OPS } from "./syscalls.js";

/** An endpoint for people: 127.0.0.1:80, [::1]:53, /run/sock, @abstract, inode 123. */
export function endpointText(a: Addr): string {
  if (a.ip !== undefined) return `${a.family === "inet6" ? `[${a.ip}]` : a.ip}${a.port !== undefined ? ":" + a.port : ""}`;
  return a.path ?? (a.abstract !== undefined ? "@" + a.abstract : a.inode !== undefined ? `inode ${a.inode}` : "");
}

export function useColour(stream: NodeJS.WriteStream): boolean {
  return !!stream.isTTY && process.env.NO_COLOR === undefined && process.env.TERM !== "dumb";
}

export function textReport(h: ProfileHeader, items: Summary[], colour = false, answers: string[] = []): string {
  const b = (s: string) => (colour ? `\x1b[1m${s}\x1b[0m` : s);
  const red = (s: string) => (colour ? `\x1b[31m${s}\x1b[0m` : s);
  const out: string[] = [];
  const cmds = h.commands.map((c) => c.join(" ")).join("; ") || "(unknown command)";
  out.push(b(`Profile of ${cmds}`));
  const span = h.start !== undefined && h.end !== undefined ? `, ${(h.end - h.start).toFixed(2)} s` : "";
  out.push(`${h.runs} run(s) on ${h.hosts.join(", ") || "?"} as ${h.users.join(", ") || "?"} (${h.tracers.join(", ") || "?"}); ` +
    `${h.events.syscall ?? 0} calls in ${h.processes} processes${span}.`);
  out.push(h.warning, "");
  if (answers.length) out.push(...answers, "");
  const errs = (s: Summary) => Object.entries(s.errors).map(([e, n]) => `${e}×${n}`).join(" ");
  const line = (s: Summary, what: string) => {
    const fail = errs(s);
    return `  ${what}  [${s.ops.join(",")}] ${s.calls} call${s.calls === 1 ? "" : "s"}${fail ? ", " + red("failed " + fail) : ""}`;
  };
  const group = (title: string, xs: Summary[], what: (s: Summary) => string) => {
    if (!xs.length) return;
    out.push(b(`${title} (${xs.length})`));
    for (const s of xs) out.push(line(s, what(s)));
    out.push("");
  };
  const files = items.filter((s) => s.kind === "file");
  const changes = (s: Summary) => s.ops.some((o) => WRITE_OPS.has(o));
  const reads = (s: Summary) => s.ops.some((o) => READ_OPS.has(o) || o === "map" || o === "exec");
  group("Files changed", files.filter((s) => !s.probe && changes(s)), (s) => s.path!);
  group("Files read", files.filter((s) => !s.probe && !changes(s) && reads(s)), (s) => s.path!);
  group("Files looked at (stat, access, chdir)", files.filter((s) => !s.probe && !changes(s) && !reads(s)), (s) => s.path!);
  group("Programs run", items.filter((s) => s.kind === "exec" && s.ok > 0), (s) => `${s.path}${s.argv?.length ? "  e.g. " + s.argv[0].join(" ") : ""}`);
  const addr = (s: Summary) => {
    const a = s.addr!;
    const where = endpointText(a);
    return `${s.role} ${a.proto ?? a.family} ${where}`.trim();
  };
  group("Network", items.filter((s) => s.kind === "net" && s.role !== "socket"), addr);
  group("Sockets opened", items.filter((s) => s.kind === "net" && s.role === "socket"), addr);
  group("Privileged operations", items.filter((s) => s.kind === "priv"), (s) => `${s.op} needs ${s.capability ?? "privilege"}: ${(s.evidence ?? []).slice(0, 3).join("; ")}`);
  group("Credential changes", items.filter((s) => s.kind === "cred"), (s) => `${s.op} ${(s.values ?? []).slice(0, 3).join("; ")}`);
  const probes = files.filter((s) => s.probe);
  if (probes.length) out.push(b(`Searches that found nothing (ENOENT only): ${probes.length} paths`), "");
  const top = Object.entries(h.syscalls).sort((a, c) => c[1] - a[1]).slice(0, 12).map(([k, n]) => `${k} ${n}`).join(", ");
  out.push(b("System calls") + `: ${top}`);
  return out.join("\n") + "\n";
}
