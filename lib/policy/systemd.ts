// A systemd unit drop-in of sandboxing directives (systemd.exec(5), systemd.resource-control(5))
// derived from a profile, each line commented with its evidence. Names go in through lib/render.ts:
// quoted values, `%` doubled, escaped comments; a token that is not a plain name is refused.

import { isIP } from "node:net";
import { isGlob } from "../pattern.js";
import { join, txt, unitLine, unitName, unitNote, unitWord, document, type Generated, type Rendered } from "../render.js";
import type { ProfileHeader, Summary } from "../profile/summary.js";
import { WRITE_OPS } from "../trace/syscalls.js";
const AF: Record<string, string> = { inet: "AF_INET", inet6: "AF_INET6", unix: "AF_UNIX", netlink: "AF_NETLINK", packet: "AF_PACKET" };

export function systemdDropIn(h: ProfileHeader, items: Summary[], version: string): Generated {
  const out: Rendered<"systemd">[] = [];
  const warnings: string[] = [];
  const what = h.commands.length ? join(h.commands.map((c) => txt`${c.join(" ")}`), "; ", "text") : txt`a traced run`;
  out.push(unitNote`trace-policy ${version}: sandboxing for ${what}${h.start !== undefined ? txt`, traced at ${new Date(h.start * 1000).toISOString()}` : txt``}.`);
  out.push(unitNote`${h.warning}`, unitLine`[Service]`);

  const syscalls = Object.keys(h.syscalls).sort();
  const calls = syscalls.flatMap((c) => {
    // a system call's name is a plain word: anything else came from a forged record
    const r = /^[a-z0-9_]+$/.test(c) ? unitName(c) : undefined;
    if (!r) warnings.push(`system call ${c}: not a system call name: left out of SystemCallFilter=`);
    return r ? [r] : [];
  });
  if (h.filtered) {
    out.push(unitNote`SystemCallFilter= left out: the trace followed only some system calls (trace with trace-run --all-syscalls)`);
  } else if (calls.length) {
    out.push(unitNote`the ${calls.length} system calls the run made`);
    out.push(unitLine`SystemCallFilter=${join(calls, " ", "systemd")}`, unitLine`SystemCallErrorNumber=EPERM`);
  }

  const fams = new Map<string, Rendered<"text">>();
  for (const s of items) {
    if (s.kind !== "net" || !s.addr) continue;
    const af = AF[s.addr.family];
    if (af && !fams.has(af)) fams.set(af, txt`${s.ops.join(",")} ${s.addr.proto ?? s.addr.family}`);
  }
  out.push(fams.size ? unitNote`sockets seen: ${join([...fams].map(([af, ev]) => txt`${af} (${ev})`), "; ", "text")}` : unitNote`no sockets seen`);
  // AF holds the only names that can get here
  out.push(unitLine`RestrictAddressFamilies=${fams.size ? join([...fams.keys()].sort().map((f) => unitName(f)!), " ", "systemd") : unitName("none")!}`);

  const caps = [...new Set(items.filter((s) => s.kind === "priv" && s.capability).map((s) => s.capability!))].sort().flatMap((c) => {
    const r = /^CAP_[A-Z_]+$/.test(c) ? unitName(c) : undefined;
    if (!r) warnings.push(`capability ${c}: not a capability name: left out of CapabilityBoundingSet=`);
    return r ? [{ c, r }] : [];
  });
  out.push(caps.length
    ? unitNote`privileges used: ${join(caps.map(({ c }) => txt`${c} (${items.find((s) => s.capability === c)?.evidence?.[0] ?? "?"})`), "; ", "text")}`
    : unitNote`no privileged operation seen`);
  out.push(unitLine`CapabilityBoundingSet=${join(caps.map((x) => x.r), " ", "systemd")}`);
  if (!items.some((s) => s.kind === "cred" || (s.kind === "exec" && /\/(su|sudo|passwd|newgrp|mount)$/.test(s.path ?? "")))) {
    out.push(unitNote`no credential change or set-user-ID program seen`, unitLine`NoNewPrivileges=yes`);
  }

  // writes outside temporary directories need ReadWritePaths= under ProtectSystem=strict
  const written = items.filter((s) => s.kind === "file" && !s.probe && s.path?.startsWith("/") && (s.okOps ?? []).some((o) => WRITE_OPS.has(o)));
  const tmp = (p: string) => /^\/(tmp|var\/tmp)(\/|$)/.test(p);
  const outside = [...new Set(written.filter((s) => !tmp(s.path!) && !s.path!.startsWith("/dev/")).map((s) => dirOf(s)))].sort();
  out.push(unitNote`the file system read-only, but for what the run wrote`);
  out.push(unitLine`ProtectSystem=strict`);
  if (outside.length) {
    out.push(unitNote`written: ${join(outside.map((p) => txt`${p}`), " ", "text")}`,
      unitLine`ReadWritePaths=${join(outside.map((p) => unitWord(p, "-")), " ", "systemd")}`);
  }
  out.push(written.some((s) => tmp(s.path!)) ? unitNote`writes under /tmp: a private /tmp of its own` : unitNote`nothing written under /tmp`, unitLine`PrivateTmp=yes`);

  const peers = items.filter((s) => s.kind === "net" && s.role === "peer" && s.addr?.ip !== undefined);
  const allIp = items.filter((s) => s.kind === "net" && (s.addr?.family === "inet" || s.addr?.family === "inet6"));
  if (allIp.length && peers.length && allIp.every((s) => s.role !== "local")) {
    const ips = [...new Set(peers.map((s) => s.addr!.ip!))].sort().flatMap((ip) => {
      if (!isIP(ip)) { warnings.push(`peer ${ip}: not an IP address: left out of IPAddressAllow=`); return []; }
      return [unitName(ip) ?? unitWord(ip)];
    });
    if (ips.length) out.push(unitNote`peers seen: ${join(ips, " ", "systemd")}`, unitLine`IPAddressAllow=${join(ips, " ", "systemd")}`, unitLine`IPAddressDeny=any`);
  }
  return { text: document(out), warnings };
}

/**
 * The directory to make writable for a written path: the path itself for directories; for a name the
 * tools made general (a normalised <tmp>, a collapsed DIR/**), the directory above its first glob.
 */
function dirOf(s: Summary): string {
  const p = s.path!;
  const first = s.pattern?.findIndex(isGlob) ?? -1;
  if (first >= 0) {
    const before = s.pattern!.slice(0, first).join("");
    return before.slice(0, Math.max(before.lastIndexOf("/"), 0)) || "/";
  }
  const ops = s.okOps ?? [];
  if (ops.includes("mkdir") || ops.includes("list")) return p;
  if (ops.some((o) => o === "create" || o === "delete" || o === "rename" || o === "link" || o === "symlink" || o === "mknod")) {
    return p.slice(0, p.lastIndexOf("/")) || "/";
  }
  return p;
}
