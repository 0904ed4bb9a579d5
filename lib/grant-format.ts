// The forms of a grant plan for people: a report for a security department, a reviewable shell script
// that applies (and undoes) the grants, and a systemd drop-in for running the tool as a service. Every
// traced name goes in through lib/render.ts: escaped in text and comments, quoted in commands.

import { UserError } from "./cli.js";
import type { Grant, PlanHeader } from "./grant.js";
import {
  escapeText, join, joinLines, shCommand, shLine, shNote, shWord, txt, unitLine, unitName, unitNote, unitWord, document,
  type Generated, type Rendered,
} from "./render.js";

const NAMES: { [kind: string]: [string, string] } = {
  group: ["group", "groups"], search: ["directory search bit", "directory search bits"], acl: ["ACL", "ACLs"],
  owner: ["ownership change", "ownership changes"], capability: ["capability", "capabilities"],
};
const SECTIONS: [Grant["grant"], string][] = [
  ["group", "Group membership"], ["search", "Directory search bits (ACL entries with x only)"], ["acl", "ACL entries on single files"],
  ["owner", "Ownership"], ["capability", "Capabilities"], ["none", "What no grant covers"],
];

/** The traced commands, for people: each argument escaped. */
function what(h: PlanHeader): Rendered<"text"> {
  return h.commands.length ? join(h.commands.map((c) => txt`${c.join(" ")}`), "; ", "text") : txt`the traced program`;
}

/** "14 grants — 9 ACLs, 1 group, 1 capability, 3 directory search bits" (counts and our words only) */
export function grantSummary(h: PlanHeader): string {
  const parts = Object.entries(NAMES).filter(([k]) => h.grants[k]).map(([k, [one, many]]) => `${h.grants[k]} ${h.grants[k] === 1 ? one : many}`);
  const total = Object.entries(h.grants).filter(([k]) => k !== "none").reduce((a, [, n]) => a + n, 0);
  const none = h.grants.none ? `; ${h.grants.none} operation${h.grants.none === 1 ? "" : "s"} no grant covers` : "";
  return `${total} grant${total === 1 ? "" : "s"}${parts.length ? " — " + parts.join(", ") : ""}${none}`;
}

/** What a grant is about, for its heading: the group, the capability, the path. */
function subject(g: Grant): string {
  return [g.group, g.capability, g.path].filter((x) => x !== undefined).join(" ");
}

export function textPlan(h: PlanHeader, grants: Grant[]): string {
  const out: Rendered<"text">[] = [];
  out.push(txt`To run \`${what(h)}\` as \`${h.user}\` on ${h.host}: ${grantSummary(h)}.`);
  out.push(txt`${h.note}`, txt`${h.warning}`, txt``);
  for (const [kind, title] of SECTIONS) {
    const gs = grants.filter((g) => g.grant === kind);
    if (!gs.length) continue;
    out.push(txt`${title} (${kind === "acl" || kind === "search" ? gs.reduce((a, g) => a + (g.paths?.length ?? 1), 0) : gs.length})`);
    for (const g of gs) {
      const head = g.grant === "group" ? txt`${g.group!}` : g.grant === "capability" || g.grant === "none"
        ? join([g.capability, g.path].filter((x): x is string => !!x).map((x) => txt`${x}`), "  ", "text")
        : g.perms ? txt`${g.path!}${g.paths ? txt` (${g.paths.length} files)` : txt``}  ${g.perms}` : txt`${g.path!}${g.paths ? txt` (${g.paths.length} files)` : txt``}`;
      out.push(txt`  ${head}${g.blunt ? "  (blunt)" : ""}${g.rootEquivalent ? "  (root in all but name)" : ""}`);
      const acc = join(g.accesses.slice(0, 3).map((a) => txt`${a}`), "; ", "text");
      out.push(txt`      for: ${acc}${g.accesses.length > 3 ? txt`; … ${g.accesses.length - 3} more` : txt``}`);
      out.push(txt`      why: ${g.because}`);
    }
    out.push(txt``);
  }
  if (!grants.length) out.push(txt`Nothing the run did is denied to ${h.user} on this host.`, txt``);
  if (h.unchecked.length) {
    out.push(txt`Not checked (${h.unchecked.length}):`);
    for (const u of h.unchecked.slice(0, 10)) out.push(txt`  ${u.path}: ${u.why}`);
    if (h.unchecked.length > 10) out.push(txt`  … ${h.unchecked.length - 10} more (see the plan record)`);
    out.push(txt``);
  }
  return joinLines(out);
}

/** The files a grant's commands act on: its one path, or every path of a collapsed grant. */
function targets(g: Grant): string[] {
  if (g.grant === "group") return [];
  return g.paths ?? (g.path !== undefined ? [g.path] : []);
}

/**
 * A POSIX shell script: `sh plan.sh` applies, `sh plan.sh undo` takes back; both may be run again.
 * Names are single-quoted words in commands and escaped in comments; a command that is not one line of
 * code outside its quotes (only a forged record has one) is refused with a warning.
 */
export function shPlan(h: PlanHeader, grants: Grant[], version: string): Generated {
  const out: Rendered<"sh">[] = [];
  const warnings: string[] = [];
  out.push(shLine`#!/bin/sh`);
  out.push(shNote`trace-grant ${version}: the grants that let ${h.user} run ${what(h)}`);
  out.push(shNote`on ${h.host}: ${grantSummary(h)}.`);
  out.push(shNote`${h.note}`);
  out.push(shNote`Review it, then run it as root: 'sh THIS apply' (the default) grants, 'sh THIS undo' takes the grants back.`);
  out.push(shNote`Both may be run again; a file that is gone is skipped with a message.`);
  out.push(shNote`Names are quoted as they are; where a name holds control characters, the comment above its step shows it escaped.`);
  out.push(shLine`set -eu`, shLine``);
  // the name shown when a file is gone is the escaped one: the raw name may hold terminal escapes
  out.push(shLine`have() { [ -e "$1" ] || [ -L "$1" ] || { printf '%s: %s: gone, skipped\\n' "$0" "$2" >&2; return 1; }; }`, shLine``);
  const step = (g: Grant, cmds: string[]): Rendered<"sh">[] => {
    const lines: Rendered<"sh">[] = [];
    for (const c of cmds) {
      const code = shCommand(c);
      if (!code) { warnings.push(`a command of the ${g.grant} grant for ${subject(g)} is not one line of quoted words: left out of the script`); continue; }
      // the file a command acts on is the word after "--": found by its rendering, not parsed out
      const target = targets(g).find((p) => c.includes(" -- " + shWord(p)) &&
        [undefined, " "].includes(c[c.indexOf(" -- " + shWord(p)) + 4 + shWord(p).length]));
      lines.push(target !== undefined ? shLine`  have ${target} ${escapeText(target)} && ${code}` : shLine`  ${code}`);
    }
    return lines;
  };
  out.push(shLine`apply() {`);
  let any = false;
  for (const g of grants) {
    const acc = join(g.accesses.slice(0, 2).map((a) => txt`${a}`), "; ", "text");
    out.push(shLine`  ${shNote`${subject(g) ? txt`${g.grant} ${subject(g)}` : txt`${g.grant}`}: ${acc}${g.accesses.length > 2 ? "; …" : ""}`}`);
    if (g.apply.length) { const s = step(g, g.apply); out.push(...s); any ||= s.length > 0; continue; }
    if (g.grant === "capability") {
      out.push(shLine`  ${shNote`not applied: a capability cannot be given to one user by a file grant. Run the tool with`}`,
        shLine`  ${shNote`AmbientCapabilities=${g.capability!} (trace-grant --format systemd), or 'setpriv --ambient-caps +${g.capability!.slice(4).toLowerCase()}' from root.`}`,
        shLine`  ${shNote`('setcap' on the program would give it to every user who runs that program.)`}`);
    } else {
      out.push(shLine`  ${shNote`no grant: ${g.because}`}`);
    }
  }
  if (!any) out.push(shLine`  :`);
  out.push(shLine`}`, shLine``, shLine`undo() {`);
  const rev = [...grants].reverse().filter((g) => g.undo.length);
  let undone = false;
  for (const g of rev) {
    out.push(shLine`  ${shNote`${subject(g) ? txt`${g.grant} ${subject(g)}` : txt`${g.grant}`}`}`);
    const s = step(g, [...g.undo]);
    out.push(...s);
    undone ||= s.length > 0;
  }
  if (!undone) out.push(shLine`  :`);
  out.push(shLine`}`, shLine``);
  out.push(shLine`case "\${1:-apply}" in`, shLine`  apply) apply ;;`, shLine`  undo) undo ;;`, shLine`  *) echo "usage: $0 [apply|undo]" >&2; exit 2 ;;`, shLine`esac`);
  return { text: document(out), warnings };
}

/**
 * A unit drop-in: the user, its extra groups and capabilities; writes allowed where the run wrote.
 * Paths are quoted values (systemd.syntax(7)), `%` doubled; a group or capability that is not a plain
 * name is refused with a warning. A user name that is not one is an error: without User= the service
 * would run as root.
 */
export function systemdPlan(h: PlanHeader, grants: Grant[], written: string[], version: string): Generated {
  const out: Rendered<"systemd">[] = [];
  const warnings: string[] = [];
  const user = unitName(h.user);
  if (!user) throw new UserError(`${h.user}: not a user name systemd takes as it is: no drop-in written`);
  out.push(unitNote`trace-grant ${version}: run ${what(h)} as ${h.user} (${grantSummary(h)}).`);
  out.push(unitNote`${h.note}`);
  const files = grants.filter((g) => g.grant === "acl" || g.grant === "search" || g.grant === "owner");
  if (files.length) out.push(unitNote`The ${files.reduce((a, g) => a + (g.paths?.length ?? 1), 0)} file grants (ACLs, search bits) are not unit settings: apply them with trace-grant --format sh.`);
  out.push(unitLine`[Service]`, unitLine`User=${user}`);
  const names = (xs: string[], what: string) => xs.flatMap((x) => {
    const r = unitName(x);
    if (!r) warnings.push(`${what} ${x}: not a name systemd takes as it is: left out of the drop-in`);
    return r ? [{ name: x, r }] : [];
  });
  const groups = names(grants.filter((g) => g.grant === "group").map((g) => g.group!), "group");
  if (groups.length) {
    out.push(unitNote`${join(groups.map((g) => txt`${g.name}: ${grants.find((x) => x.group === g.name)!.accesses.length} denied accesses`), "; ", "text")}`,
      unitLine`SupplementaryGroups=${join(groups.map((g) => g.r), " ", "systemd")}`);
  }
  const caps = names([...new Set(grants.filter((g) => g.grant === "capability").map((g) => g.capability!))].sort(), "capability")
    .filter((c) => /^CAP_[A-Z_]+$/.test(c.name) || (warnings.push(`capability ${c.name}: not a capability name: left out of the drop-in`), false));
  if (caps.length) {
    for (const c of caps) out.push(unitNote`${c.name}: ${join(grants.find((g) => g.capability === c.name)!.accesses.slice(0, 2).map((a) => txt`${a}`), "; ", "text")}`);
    const list = join(caps.map((c) => c.r), " ", "systemd");
    out.push(unitLine`AmbientCapabilities=${list}`, unitLine`CapabilityBoundingSet=${list}`);
  } else {
    out.push(unitNote`no capability needed`, unitLine`CapabilityBoundingSet=`, unitLine`NoNewPrivileges=yes`);
  }
  for (const g of grants.filter((x) => x.grant === "none")) {
    out.push(unitNote`not covered: ${join(g.accesses.slice(0, 2).map((a) => txt`${a}`), "; ", "text")} (${g.capability ?? "no grant"})`);
  }
  const rw = written.filter((p) => !/^\/(tmp|var\/tmp|dev)(\/|$)/.test(p));
  out.push(unitNote`everything read-only but what the run wrote (ReadOnlyPaths= is implied for the rest)`, unitLine`ProtectSystem=strict`);
  if (rw.length) out.push(unitLine`ReadWritePaths=${join(rw.map((p) => unitWord(p, "-")), " ", "systemd")}`);
  out.push(unitLine`PrivateTmp=yes`);
  return { text: document(out), warnings };
}
