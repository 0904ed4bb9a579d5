// The human-readable form of a profile (trace-summarize --format text): grouped by kind, with counts.
// Colour only when asked for (a terminal, and neither NO_COLOR nor TERM=dumb). Names are escaped (lib/render.ts).

import type { Addr } from "../io/records.js";
import type { ProfileHeader, Summary } from "./summary.js";
import { READ_OPS, WRITE_OPS } from "../trace/syscalls.js";
import { changesNothing } from "./verdict.js";
import { document, join, style, txt, type Rendered } from "../render.js";

/** An endpoint for people: 127.0.0.1:80, [::1]:53, /run/sock, @abstract, ROUTE (netlink), inode 123. */
export function endpointText(a: Addr): string {
  if (a.ip !== undefined) return `${a.family === "inet6" ? `[${a.ip}]` : a.ip}${a.port !== undefined ? ":" + a.port : ""}`;
  return a.path ?? (a.abstract !== undefined ? "@" + a.abstract : a.netlink !== undefined ? a.netlink : a.inode !== undefined ? `inode ${a.inode}` : "");
}

export function useColour(stream: NodeJS.WriteStream): boolean {
  return !!stream.isTTY && process.env.NO_COLOR === undefined && process.env.TERM !== "dumb";
}

export function textReport(h: ProfileHeader, items: Summary[], colour = false, answers: string[] = []): string {
  const b = (t: Rendered<"text">) => style(t, colour, "1");
  const red = (t: Rendered<"text">) => style(t, colour, "31");
  const out: Rendered<"text">[] = [];
  const cmds = h.commands.length ? join(h.commands.map((c) => txt`${c.join(" ")}`), "; ", "text") : txt`(unknown command)`;
  out.push(b(txt`Profile of ${cmds}`));
  const span = h.start !== undefined && h.end !== undefined ? txt`, ${(h.end - h.start).toFixed(2)} s` : txt``;
  out.push(txt`${h.runs} run(s) on ${h.hosts.join(", ") || "?"} as ${h.users.join(", ") || "?"} (${h.tracers.join(", ") || "?"}); ${h.events.syscall ?? 0} calls in ${h.processes} processes${span}.`);
  out.push(txt`${h.warning}`, txt``);
  if (answers.length) out.push(...answers.map((a) => txt`${a}`), txt``);
  const errs = (s: Summary) => Object.entries(s.errors).map(([e, n]) => `${e}×${n}`).join(" ");
  const line = (s: Summary, what: Rendered<"text">) => {
    const fail = errs(s);
    return txt`  ${what}  [${s.ops.join(",")}] ${s.calls} call${s.calls === 1 ? "" : "s"}${fail ? txt`, ${red(txt`failed ${fail}`)}` : txt``}`;
  };
  const group = (title: string, xs: Summary[], what: (s: Summary) => Rendered<"text">) => {
    if (!xs.length) return;
    out.push(b(txt`${title} (${xs.length})`));
    for (const s of xs) out.push(line(s, what(s)));
    out.push(txt``);
  };
  const files = items.filter((s) => s.kind === "file");
  const changes = (s: Summary) => s.ops.some((o) => WRITE_OPS.has(o));
  const reads = (s: Summary) => s.ops.some((o) => READ_OPS.has(o) || o === "map" || o === "exec");
  const path = (s: Summary) => txt`${s.path!}`;
  // (as the answers count them: a temporary file or /dev/null written is not a change)
  group("Files changed", files.filter((s) => !s.probe && changes(s) && !changesNothing(s.path!)), path);
  group("Written, not changes (temporary files, devices such as /dev/null)", files.filter((s) => !s.probe && changes(s) && changesNothing(s.path!)), path);
  // every file a read was tried on, failed or not (the verdict's Reads counts the successes, changed files too)
  group("Files read or run, failed tries included (files written are above)", files.filter((s) => !s.probe && !changes(s) && reads(s)), path);
  group("Files looked at (stat, access, chdir)", files.filter((s) => !s.probe && !changes(s) && !reads(s)), path);
  group("Programs run", items.filter((s) => s.kind === "exec" && s.ok > 0), (s) => txt`${s.path!}${s.argv?.length ? txt`  e.g. ${s.argv[0].join(" ")}` : txt``}`);
  const addr = (s: Summary) => {
    const a = s.addr!;
    return txt`${`${s.role} ${a.proto ?? a.family} ${endpointText(a)}`.trim()}`;
  };
  group("Network", items.filter((s) => s.kind === "net" && s.role !== "socket"), addr);
  group("Sockets opened", items.filter((s) => s.kind === "net" && s.role === "socket"), addr);
  group("Privileged operations", items.filter((s) => s.kind === "priv"), (s) => txt`${s.op ?? ""} needs ${s.capability ?? "privilege"}: ${(s.evidence ?? []).slice(0, 3).join("; ")}`);
  group("Credential changes", items.filter((s) => s.kind === "cred"), (s) => txt`${s.op ?? ""} ${(s.values ?? []).slice(0, 3).join("; ")}`);
  const probes = files.filter((s) => s.probe);
  if (probes.length) out.push(b(txt`Searches that found nothing (ENOENT only): ${probes.length} paths`), txt``);
  const top = Object.entries(h.syscalls).sort((a, c) => c[1] - a[1]).slice(0, 12).map(([k, n]) => `${k} ${n}`).join(", ");
  out.push(txt`${b(txt`System calls`)}: ${top}`);
  return document(out);
}
