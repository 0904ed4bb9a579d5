// The forms of a grant plan for people: a report for a security department, a reviewable shell script
// that applies (and undoes) the grants, and a systemd drop-in for running the tool as a service.

import { sh, type Grant, type PlanHeader } from "./grant.js";

const NAMES: { [kind: string]: [string, string] } = {
  group: ["group", "groups"], search: ["directory search bit", "directory search bits"], acl: ["ACL", "ACLs"],
  owner: ["ownership change", "ownership changes"], capability: ["capability", "capabilities"],
};
const SECTIONS: [Grant["grant"], string][] = [
  ["group", "Group membership"], ["search", "Directory search bits (ACL entries with x only)"], ["acl", "ACL entries on single files"],
  ["owner", "Ownership"], ["capability", "Capabilities"], ["none", "What no grant covers"],
];

function what(h: PlanHeader): string {
  return h.commands.map((c) => c.join(" ")).join("; ") || "the traced program";
}

/** "14 grants — 9 ACLs, 1 group, 1 capability, 3 directory search bits" */
export function grantSummary(h: PlanHeader): string {
  const parts = Object.entries(NAMES).filter(([k]) => h.grants[k]).map(([k, [one, many]]) => `${h.grants[k]} ${h.grants[k] === 1 ? one : many}`);
  const total = Object.entries(h.grants).filter(([k]) => k !== "none").reduce((a, [, n]) => a + n, 0);
  const none = h.grants.none ? `; ${h.grants.none} operation${h.grants.none === 1 ? "" : "s"} no grant covers` : "";
  return `${total} grant${total === 1 ? "" : "s"}${parts.length ? " — " + parts.join(", ") : ""}${none}`;
}

export function textPlan(h: PlanHeader, grants: Grant[]): string {
  const out: string[] = [];
  out.push(`To run \`${what(h)}\` as \`${h.user}\` on ${h.host}: ${grantSummary(h)}.`);
  out.push(h.note, h.warning, "");
  for (const [kind, title] of SECTIONS) {
    const gs = grants.filter((g) => g.grant === kind);
    if (!gs.length) continue;
    out.push(`${title} (${kind === "acl" || kind === "search" ? gs.reduce((a, g) => a + (g.paths?.length ?? 1), 0) : gs.length})`);
    for (const g of gs) {
      const head = g.grant === "group" ? g.group! : g.grant === "capability" || g.grant === "none" ? [g.capability, g.path].filter(Boolean).join("  ")
        : `${g.path}${g.paths ? ` (${g.paths.length} files)` : ""}  ${g.perms ?? ""}`.trimEnd();
      out.push(`  ${head}${g.blunt ? "  (blunt)" : ""}${g.rootEquivalent ? "  (root in all but name)" : ""}`);
      const acc = g.accesses.slice(0, 3).join("; ") + (g.accesses.length > 3 ? `; … ${g.accesses.length - 3} more` : "");
      out.push(`      for: ${acc}`);
      out.push(`      why: ${g.because}`);
    }
    out.push("");
  }
  if (!grants.length) out.push(`Nothing the run did is denied to ${h.user} on this host.`, "");
  if (h.unchecked.length) {
    out.push(`Not checked (${h.unchecked.length}):`);
    for (const u of h.unchecked.slice(0, 10)) out.push(`  ${u.path}: ${u.why}`);
    if (h.unchecked.length > 10) out.push(`  … ${h.unchecked.length - 10} more (see the plan record)`);
    out.push("");
  }
  return out.join("\n");
}

/** A POSIX shell script: `sh plan.sh` applies, `sh plan.sh undo` takes back; both may be run again. */
export function shPlan(h: PlanHeader, grants: Grant[], version: string): string {
  const out: string[] = [];
  out.push("#!/bin/sh");
  out.push(`# trace-grant ${version}: the grants that let ${h.user} run ${what(h).replace(/\n/g, " ")}`);
  out.push(`# on ${h.host}: ${grantSummary(h)}.`);
  out.push(`# ${h.note}`);
  out.push("# Review it, then run it as root: 'sh THIS apply' (the default) grants, 'sh THIS undo' takes the grants back.");
  out.push("# Both may be run again; a file that is gone is skipped with a message.");
  out.push("set -eu", "");
  out.push("have() { [ -e \"$1\" ] || [ -L \"$1\" ] || { echo \"$0: $1: gone, skipped\" >&2; return 1; }; }", "");
  const step = (g: Grant, cmds: string[]) => cmds.map((c) => {
    const target = / -- ('(?:[^']|'\\'')*'|\S+)/.exec(c)?.[1];
    return "  " + (target && g.grant !== "group" ? `have ${target} && ${c}` : c);
  });
  out.push("apply() {");
  let any = false;
  for (const g of grants) {
    out.push(`  # ${g.grant}${g.group ? " " + g.group : ""}${g.capability ? " " + g.capability : ""}${g.path ? " " + g.path : ""}: ${g.accesses.slice(0, 2).join("; ")}${g.accesses.length > 2 ? "; …" : ""}`);
    if (g.apply.length) { out.push(...step(g, g.apply)); any = true; continue; }
    if (g.grant === "capability") {
      out.push(`  # not applied: a capability cannot be given to one user by a file grant. Run the tool with`,
        `  # AmbientCapabilities=${g.capability} (trace-grant --format systemd), or 'setpriv --ambient-caps +${g.capability!.slice(4).toLowerCase()}' from root.`,
        `  # ('setcap' on the program would give it to every user who runs that program.)`);
    } else {
      out.push(`  # no grant: ${g.because.replace(/\n/g, " ")}`);
    }
  }
  if (!any) out.push("  :");
  out.push("}", "", "undo() {");
  const rev = [...grants].reverse().filter((g) => g.undo.length);
  for (const g of rev) out.push(`  # ${g.grant}${g.group ? " " + g.group : ""}${g.path ? " " + g.path : ""}`, ...step(g, [...g.undo]));
  if (!rev.length) out.push("  :");
  out.push("}", "");
  out.push(`case "\${1:-apply}" in`, "  apply) apply ;;", "  undo) undo ;;", `  *) echo "usage: $0 [apply|undo]" >&2; exit 2 ;;`, "esac");
  return out.join("\n") + "\n";
}

/** A unit drop-in: the user, its extra groups and capabilities; writes allowed where the run wrote. */
export function systemdPlan(h: PlanHeader, grants: Grant[], written: string[], version: string): string {
  const out: string[] = [];
  out.push(`# trace-grant ${version}: run ${what(h).replace(/\n/g, " ")} as ${h.user} (${grantSummary(h)}).`);
  out.push(`# ${h.note}`);
  const files = grants.filter((g) => g.grant === "acl" || g.grant === "search" || g.grant === "owner");
  if (files.length) out.push(`# The ${files.reduce((a, g) => a + (g.paths?.length ?? 1), 0)} file grants (ACLs, search bits) are not unit settings: apply them with trace-grant --format sh.`);
  out.push("[Service]", `User=${h.user}`);
  const groups = grants.filter((g) => g.grant === "group").map((g) => g.group!);
  if (groups.length) out.push(`# ${groups.map((g) => `${g}: ${grants.find((x) => x.group === g)!.accesses.length} denied accesses`).join("; ")}`, `SupplementaryGroups=${groups.join(" ")}`);
  const caps = [...new Set(grants.filter((g) => g.grant === "capability").map((g) => g.capability!))].sort();
  if (caps.length) {
    for (const c of caps) out.push(`# ${c}: ${grants.find((g) => g.capability === c)!.accesses.slice(0, 2).join("; ")}`);
    out.push(`AmbientCapabilities=${caps.join(" ")}`, `CapabilityBoundingSet=${caps.join(" ")}`);
  } else {
    out.push("# no capability needed", "CapabilityBoundingSet=", "NoNewPrivileges=yes");
  }
  for (const g of grants.filter((x) => x.grant === "none")) out.push(`# not covered: ${g.accesses.slice(0, 2).join("; ")} (${g.capability ?? "no grant"})`);
  const rw = written.filter((p) => !/^\/(tmp|var\/tmp|dev)(\/|$)/.test(p));
  out.push("# everything read-only but what the run wrote (ReadOnlyPaths= is implied for the rest)", "ProtectSystem=strict");
  if (rw.length) out.push(`ReadWritePaths=${rw.map((p) => "-" + (/[\s"\\]/.test(p) ? JSON.stringify(p) : p)).join(" ")}`);
  out.push("PrivateTmp=yes");
  return out.join("\n") + "\n";
}
