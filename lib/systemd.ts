// A systemd unit drop-in of sandboxing directives (systemd.exec(5), systemd.resource-control(5))
// derived from a profile, each line commented with its evidence.

import type { ProfileHeader, Summary } from "./summary.js";
import { WRITE_OPS } from "./syscalls.js";
const AF: Record<string, string> = { inet: "AF_INET", inet6: "AF_INET6", unix: "AF_UNIX", netlink: "AF_NETLINK", packet: "AF_PACKET" };

export function systemdDropIn(h: ProfileHeader, items: Summary[], version: string): string {
  const out: string[] = [];
  const what = h.commands.map((c) => c.join(" ")).join("; ") || "a traced run";
  out.push(`# trace-policy ${version}: sandboxing for ${what}${h.start !== undefined ? ", traced at " + new Date(h.start * 1000).toISOString() : ""}.`);
  out.push("# " + h.warning, "[Service]");

  const syscalls = Object.keys(h.syscalls).sort();
  if (h.filtered) {
    out.push("# SystemCallFilter= left out: the trace followed only some system calls (trace with trace-run --all-syscalls)");
  } else if (syscalls.length) {
    out.push(`# the ${syscalls.length} system calls the run made`);
    out.push(`SystemCallFilter=${syscalls.join(" ")}`, "SystemCallErrorNumber=EPERM");
  }

  const fams = new Map<string, string>();
  for (const s of items) {
    if (s.kind !== "net" || !s.addr) continue;
    const af = AF[s.addr.family];
    if (af && !fams.has(af)) fams.set(af, `${s.ops.join(",")} ${s.addr.proto ?? s.addr.family}`);
  }
  out.push(fams.size ? `# sockets seen: ${[...fams].map(([af, ev]) => `${af} (${ev})`).join("; ")}` : "# no sockets seen");
  out.push(`RestrictAddressFamilies=${fams.size ? [...fams.keys()].sort().join(" ") : "none"}`);

  const caps = [...new Set(items.filter((s) => s.kind === "priv" && s.capability).map((s) => s.capability!))].sort();
  out.push(caps.length ? `# privileges used: ${caps.map((c) => `${c} (${items.find((s) => s.capability === c)?.evidence?.[0] ?? "?"})`).join("; ")}` : "# no privileged operation seen");
  out.push(`CapabilityBoundingSet=${caps.join(" ")}`);
  if (!items.some((s) => s.kind === "cred" || (s.kind === "exec" && /\/(su|sudo|passwd|newgrp|mount)$/.test(s.path ?? "")))) {
    out.push("# no credential change or set-user-ID program seen", "NoNewPrivileges=yes");
  }

  // writes outside temporary directories need ReadWritePaths= under ProtectSystem=strict
  const written = items.filter((s) => s.kind === "file" && !s.probe && s.path?.startsWith("/") && (s.okOps ?? []).some((o) => WRITE_OPS.has(o)));
  const tmp = (p: string) => /^\/(tmp|var\/tmp)(\/|$)/.test(p);
  const outside = [...new Set(written.filter((s) => !tmp(s.path!) && !s.path!.startsWith("/dev/")).map((s) => dirOf(s)))].sort();
  out.push("# the file system read-only, but for what the run wrote");
  out.push("ProtectSystem=strict");
  if (outside.length) out.push(`# written: ${outside.join(" ")}`, `ReadWritePaths=${outside.map((p) => "-" + quote(p)).join(" ")}`);
  out.push(written.some((s) => tmp(s.path!)) ? "# writes under /tmp: a private /tmp of its own" : "# nothing written under /tmp", "PrivateTmp=yes");

  const peers = items.filter((s) => s.kind === "net" && s.role === "peer" && s.addr?.ip !== undefined);
  const allIp = items.filter((s) => s.kind === "net" && (s.addr?.family === "inet" || s.addr?.family === "inet6"));
  if (allIp.length && peers.length && allIp.every((s) => s.role !== "local")) {
    const ips = [...new Set(peers.map((s) => s.addr!.ip!))].sort();
    out.push(`# peers seen: ${ips.join(" ")}`, `IPAddressAllow=${ips.join(" ")}`, "IPAddressDeny=any");
  }
  return out.join("\n") + "\n";
}

/** The directory to make writable for a written path: the path itself for directories and globs. */
function dirOf(s: Summary): string {
  // a normalised name (/run/user/0/<tmp>/…) stands for many: make its parent writable
  const k = s.path!.indexOf("/<");
  const p = k >= 0 ? s.path!.slice(0, k) || "/" : s.path!;
  if (k >= 0) return p;
  if (p.endsWith("/**")) return p.slice(0, -3) || "/";
  const ops = s.okOps ?? [];
  if (ops.includes("mkdir") || ops.includes("list")) return p;
  if (ops.some((o) => o === "create" || o === "delete" || o === "rename" || o === "link" || o === "symlink" || o === "mknod")) {
    return p.slice(0, p.lastIndexOf("/")) || "/";
  }
  return p;
}

function quote(p: string): string {
  return /[\s"\\]/.test(p) ? `"${p.replace(/["\\]/g, (c) => "\\" + c)}"` : p;
}
