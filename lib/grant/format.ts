// The forms of a grant plan for people: a report for a security department, a reviewable shell script
// that applies (and undoes) the grants, and a systemd drop-in for running the tool as a service. Every
// traced name goes in through lib/render.ts: escaped in text and comments, quoted in commands.

import { UserError } from "../errors.js";
import type { Grant, PlanHeader } from "./grant.js";
import {
  escapeText, join, joinLines, shCommand, shLine, shNote, shWord, txt, unitLine, unitName, unitNote, unitWord, document,
  type Generated, type Rendered,
} from "../render.js";

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

/** What the plan says of an output of the job: made anew by each run, so its directory, never the file, is what counts. */
function outputText(h: PlanHeader, o: NonNullable<PlanHeader["outputs"]>[number]): Rendered<"text"> {
  const how = o.allowed === "already" ? txt`${h.user} may already create it in ${o.dir}`
    : o.allowed === "granted" ? txt`write on ${o.dir} is granted above` : txt`write on ${o.dir} is not granted (see above)`;
  return txt`${o.path}: output of the job, made anew by each run: no grant on the file; ${how}. The copy the traced run left is not ${h.user}'s: remove it before ${h.user}'s first run`;
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
      if (g.secret) out.push(txt`      exposes secrets: ${g.secret}`);
      if (g.lasts === false) {
        out.push(txt`      does not last: ${join(g.lostBy!.slice(0, 3).map((w) => txt`${w}`), "; ", "text")}${g.lostBy!.length > 3 ? txt`; … ${g.lostBy!.length - 3} more` : txt``}`);
        if (g.lasting) out.push(txt`      lasting way: ${g.lasting}`);
      }
    }
    out.push(txt``);
  }
  if (!grants.length) out.push(txt`Nothing the run did is denied to ${h.user} on this host.`, txt``);
  if (h.outputs?.length) {
    out.push(txt`Outputs of the job (${h.outputs.length}):`);
    for (const o of h.outputs) out.push(txt`  ${outputText(h, o)}`);
    out.push(txt``);
  }
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
 * A POSIX shell script: `sh plan.sh` applies, `sh plan.sh undo` takes back, both may be run again;
 * `sh plan.sh check` says which grants are no longer in force (exit 1) and apply restores them;
 * `sh plan.sh run -- COMMAND` holds the grants only while COMMAND runs as the user.
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
  out.push(shNote`Review it, then run it as root: 'sh THIS apply' (the default) grants, 'sh THIS undo' takes the grants back,`,
    shNote`'sh THIS check' exits 1 naming each grant no longer in force (a file replaced, an entry or membership removed),`,
    shNote`'sh THIS run -- COMMAND [ARG]...' applies, runs COMMAND as ${h.user}, undoes, and exits with COMMAND's status;`,
    shNote`'sh THIS start' and 'sh THIS stop' apply and undo the file grants only (the systemd drop-in's ExecStartPre=+, ExecStopPost=+).`);
  out.push(shNote`Both may be run again; a file that is gone is skipped with a message. Each step first checks that its path still`,
    shNote`names the file planned on (device and inode), with no link on the way and nothing on the way that anyone but root`,
    shNote`could replace, and that its ACL is as planned; a step that finds otherwise is refused, and the script exits 1.`);
  out.push(shNote`Grants are for ${h.user} as uid ${String(h.uid)} (ACL entries are by number): apply refuses if the name has another`,
    shNote`number now; undo takes back by number, also once the user is gone, and says what it took back.`);
  out.push(shNote`Names are quoted as they are; where a name holds control characters, the comment above its step shows it escaped.`);
  out.push(shLine`set -eu`, shLine`status=0 files_only=`, shLine``);
  out.push(...SH_GUARDS.map((l) => shCommand(l)!), shLine``);
  // each command that acts on a file runs only when its guards say it is still the file planned on; the
  // name in their messages is the escaped one (the raw name may hold terminal escapes)
  const step = (g: Grant, cmds: string[], undo = false): Rendered<"sh">[] => {
    const lines: Rendered<"sh">[] = [];
    const files = g.files ?? (g.path !== undefined && g.inode ? [{ path: g.path, inode: g.inode, acl: g.acl }] : []);
    for (const c of cmds) {
      const code = shCommand(c);
      if (!code) { warnings.push(`a command of the ${g.grant} grant for ${subject(g)} is not one line of quoted words: left out of the script`); continue; }
      // the file a command acts on is the word after "--": found by its rendering, not parsed out
      const target = targets(g).find((p) => c.includes(" -- " + shWord(p)) &&
        [undefined, " "].includes(c[c.indexOf(" -- " + shWord(p)) + 4 + shWord(p).length]));
      const f = target === undefined ? undefined : files.find((x) => x.path === target);
      if (g.grant === "group" && g.gid !== undefined) {
        // joined only while the name is still the group planned on; left only while the user is the one planned on
        const gs = escapeText(g.group!), us = escapeText(g.user);
        // start and stop (the systemd drop-in's) leave memberships alone: the unit gives SupplementaryGroups=
        lines.push(undo
          ? shLine`  if [ -z "$files_only" ] && in_group ${g.user} ${String(g.uid)} ${g.group!} ${us} ${gs}; then ${code} && said ${`removed ${us} (uid ${g.uid}) from group ${gs} (gid ${g.gid})`}; fi`
          : shLine`  if [ -z "$files_only" ] && group_is ${g.group!} ${String(g.gid)} ${gs}; then ${code}; fi`);
        continue;
      }
      if (target === undefined || !f) { lines.push(shLine`  ${code}`); continue; }
      const shown = escapeText(target);
      if (!f.acl) { lines.push(shLine`  if same ${target} ${f.inode} ${shown}${undo ? shLine` undo` : shLine``}; then ${code}; fi`); continue; }
      // a file root replaced since (useradd rewrites /etc/shadow) is granted again if its ACL is the one
      // planned from, and undone if it has the grant's: nobody but root can have made it (see same)
      const check = undo ? shLine`same ${target} ${f.inode} ${shown} undo ${f.acl.after}` : shLine`same ${target} ${f.inode} ${shown} new`;
      const [from, to] = undo ? [f.acl.after, f.acl.before] : [f.acl.before, f.acl.after];
      // undo says what it took back: the entries (by number, so also once the user is gone)
      const told = undo ? shLine` && said ${`${shown}: removed ${taken(f.acl)}; its ACL is as before the grant`}` : shLine``;
      lines.push(shLine`  if ! already ${target} ${f.inode} ${to} && ${check} && acl_from ${target} ${shown} ${from} ${to}; then ${code}${told}; fi`);
    }
    return lines;
  };
  // write on a directory last (and undone first): while its entries are granted, only root can change them
  const ordered = [...grants.filter((x) => !x.dirWrite), ...grants.filter((x) => x.dirWrite)];
  for (const o of h.outputs ?? []) out.push(shNote`${outputText(h, o)}.`);
  out.push(shLine`apply() {`);
  // every grant is for the uid planned on: not for an account made later under the name, or given the number
  out.push(shLine`  user_is ${h.user} ${String(h.uid)} ${escapeText(h.user)} || return 0`);
  for (const g of ordered) {
    const acc = join(g.accesses.slice(0, 2).map((a) => txt`${a}`), "; ", "text");
    out.push(shLine`  ${shNote`${subject(g) ? txt`${g.grant} ${subject(g)}` : txt`${g.grant}`}: ${acc}${g.accesses.length > 2 ? "; …" : ""}`}`);
    if (g.secret) out.push(shLine`  ${shNote`EXPOSES SECRETS: ${g.secret}`}`);
    if (g.lasts === false) {
      out.push(shLine`  ${shNote`does not last: ${join(g.lostBy!.slice(0, 3).map((w) => txt`${w}`), "; ", "text")}`}`);
      if (g.lasting) out.push(shLine`  ${shNote`lasting way: ${g.lasting}`}`);
    }
    if (g.apply.length && g.rootEquivalent) {
      out.push(shLine`  ${shNote`not applied: ${g.because}`}`, shLine`  ${shNote`To grant it all the same, remove the '#' before the command:`}`);
      // a name with a newline would leave the rest of the command uncommented: not shown then
      for (const l of step(g, g.apply)) out.push(l.text.includes("\n") ? shLine`  ${shNote`(the command is not shown: a name in it holds a newline)`}` : shLine`  ${shNote`${l}`}`);
      continue;
    }
    if (g.apply.length) { out.push(...step(g, g.apply)); continue; }
    if (g.grant === "capability") {
      out.push(shLine`  ${shNote`not applied: a capability cannot be given to one user by a file grant. Run the tool with`}`,
        shLine`  ${shNote`AmbientCapabilities=${g.capability!} (trace-grant --format systemd), or 'setpriv --ambient-caps +${g.capability!.slice(4).toLowerCase()}' from root.`}`,
        shLine`  ${shNote`('setcap' on the program would give it to every user who runs that program.)`}`);
    } else {
      out.push(shLine`  ${shNote`no grant: ${g.because}`}`);
    }
  }
  out.push(shLine`}`, shLine``, shLine`undo() {`);
  const rev = [...ordered].reverse().filter((g) => g.undo.length);
  let undone = false;
  for (const g of rev) {
    out.push(shLine`  ${shNote`${subject(g) ? txt`${g.grant} ${subject(g)}` : txt`${g.grant}`}`}`);
    const s = step(g, [...g.undo], true);
    out.push(...s);
    undone ||= s.length > 0;
  }
  if (!undone) out.push(shLine`  :`);
  out.push(shLine`}`, shLine``);
  // check: is each grant the script applies still in force? (only root changes these files: what it
  // replaces, and memberships it removes, lose the grant without a word)
  out.push(shLine`check() {`);
  out.push(shLine`  uid_is ${h.user} ${String(h.uid)} || { lost ${escapeText(h.user)} ${`not uid ${h.uid} on this host now: no grant of the plan is for it`}; return 0; }`);
  for (const g of ordered) {
    if (!g.apply.length || g.rootEquivalent) continue;
    if (g.grant === "group" && g.gid !== undefined) {
      out.push(shLine`  member ${g.user} ${String(g.uid)} ${g.group!} ${String(g.gid)} ${escapeText(g.user)} ${escapeText(g.group!)}`);
      continue;
    }
    const files = g.files ?? (g.path !== undefined && g.inode ? [{ path: g.path, inode: g.inode, acl: g.acl }] : []);
    for (const f of files) {
      if (f.acl) out.push(shLine`  held ${f.path} ${f.inode} ${f.acl.after} ${escapeText(f.path)}`);
      else if (g.grant === "owner") out.push(shLine`  owns ${f.path} ${String(g.uid)} ${escapeText(f.path)}`);
    }
  }
  out.push(shLine`  [ "$status" != 0 ] || said ${"every grant of the plan is in force"}`);
  out.push(shLine`}`, shLine``);
  out.push(...SH_RUN.map((l) => shCommand(l)!), shLine``);
  out.push(shLine`case "\${1:-apply}" in`, shLine`  apply) apply ;;`, shLine`  undo) undo ;;`, shLine`  check) check ;;`,
    shLine`  start) files_only=1; apply ;;`, shLine`  stop) files_only=1; undo ;;`,
    shLine`  run) shift; [ "\${1:-}" != -- ] || shift; run_job ${h.user} ${String(h.uid)} ${escapeText(h.user)} "$@" ;;`,
    shLine`  *) echo "usage: $0 [apply|undo|check|start|stop|run -- COMMAND [ARG]...]" >&2; exit 2 ;;`, shLine`esac`, shLine`exit $status`);
  return { text: document(out), warnings };
}

// run_job USER UID SHOWN COMMAND [ARG]...: the grants exist only while COMMAND runs. Applied (all of them,
// or COMMAND is not run), COMMAND run as USER (by number, its groups as they are after apply) with the
// environment trace-run --user gives (reset as sudo does, the user's HOME, SHELL and a fixed PATH;
// TERM and the locale kept), in a session of its own (it cannot push input into our terminal), with
// its arguments exactly as given: setpriv execs them, no shell reads them again. Undone on the way out
// whatever ends it (the EXIT trap; HUP, INT and TERM are passed on to COMMAND, which ends, and then we
// do); the script's own messages go to stderr, so COMMAND's stdout is its alone. Exit: COMMAND's
// status (128+N when signal N killed it), or 125 when the script could not apply or undo every grant.
const SH_RUN = [
  "run_job() {",
  "  [ $# -gt 3 ] || { echo \"usage: $0 run -- COMMAND [ARG]...\" >&2; exit 2; }",
  "  u=$1 uid=$2 shown=$3 pid= got= rc=0",
  "  shift 3",
  "  uid_is \"$u\" \"$uid\" || { refuse \"$shown\" \"not uid $uid on this host now (gone, or made again): not run, make the plan again\"; exit 125; }",
  "  gid=$(id -g -- \"$u\") home=$(getent passwd -- \"$u\" | cut -d: -f6) shell=$(getent passwd -- \"$u\" | cut -d: -f7)",
  "  trap 'run_end' EXIT",
  "  for s in HUP INT TERM; do trap \"got=$s; [ -z \\\"\\$pid\\\" ] || kill -s $s \\\"\\$pid\\\" 2>/dev/null || :\" $s; done",
  "  apply >&2",
  "  if [ \"$status\" != 0 ] || [ -n \"$got\" ]; then printf '%s: not every grant could be applied: the command is not run\\n' \"$0\" >&2; rc=125; exit 125; fi",
  "  set -- setpriv --reuid=\"$uid\" --regid=\"$gid\" --init-groups -- \"$@\"",
  "  for v in LC_IDENTIFICATION LC_MEASUREMENT LC_TELEPHONE LC_ADDRESS LC_NAME LC_PAPER LC_MESSAGES LC_MONETARY LC_COLLATE LC_TIME LC_NUMERIC LC_CTYPE LC_ALL LANGUAGE LANG TERM; do",
  "    eval \"if [ -n \\\"\\${$v+x}\\\" ]; then set -- \\\"$v=\\${$v}\\\" \\\"\\$@\\\"; fi\"",
  "  done",
  "  set -- HOME=\"$home\" SHELL=\"$shell\" USER=\"$u\" LOGNAME=\"$u\" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \"$@\"",
  // a job started with & would read /dev/null and ignore INT and QUIT: it gets our stdin and their defaults
  "  exec 3<&0",
  "  setsid env -i --default-signal=INT,QUIT \"$@\" <&3 3<&- &",
  "  pid=$!",
  "  exec 3<&-",
  "  wait \"$pid\" || rc=$?",
  // a signal interrupts wait (status 128+N) before the job has ended: wait again for its own status; a
  // wait that finds it reported already (127) came after it ended, and rc is its status
  "  while [ -n \"$got\" ]; do got=; r=0; wait \"$pid\" || r=$?; [ \"$r\" = 127 ] && [ \"$rc\" -le 128 ] || rc=$r; done",
  "  exit \"$rc\"",
  "}",
  "run_end() {",
  "  trap - EXIT HUP INT TERM",
  "  status=0",
  "  undo >&2",
  "  if [ \"$status\" != 0 ]; then printf '%s: not every grant could be taken back (the command exited %s): see above, then sh %s check\\n' \"$0\" \"$rc\" \"$0\" >&2; exit 125; fi",
  "  exit \"$rc\"",
  "}",
];

/** The entries an ACL grant added or changed, as undo takes them back: "user:1001:r--" (the mask follows them). */
function taken(acl: { before: string; after: string }): string {
  const before = new Set(acl.before.split(","));
  const gone = acl.after.split(",").filter((e) => !before.has(e) && !e.startsWith("mask:"));
  return gone.length ? gone.join(", ") : "nothing but the mask";
}

// The script's guards (POSIX sh, coreutils stat, getfacl, getent); SHOWN is the path escaped for messages.
// same PATH DEV:INO SHOWN [undo GRANTED|new]: PATH is there, and is still the file planned on, reached with no link
// and through directories that only root can change (owned by root, written by no one else, or sticky
// with the entry root's): then nobody but root can make it name another file before the step acts. A
// file root replaced since (only root can have, given the walk) is refused to apply, or with `new` (ACL
// steps) granted again, if acl_from then finds the ACL planned from; undo skips it (the grant went with
// the old file) unless it has GRANTED, the ACL with the grant (apply granted it again).
// held PATH DEV:INO ACL SHOWN, member, owns: check's questions; lost says what is no longer in force.
// already PATH DEV:INO ACL: the file there has that ACL now, nothing to do (reading it is safe wherever
// it is; so is doing nothing, also on a file root replaced and apply granted again). acl_from PATH SHOWN FROM TO: its access ACL is FROM (go on), TO already (nothing to do), or else
// refused: it changed since the plan was made. user_is NAME UID SHOWN and group_is NAME GID SHOWN: the
// name still has the number planned on (ACL entries and ownership are by number: a name deleted and
// made again is another account). in_group USER UID GROUP: that user (by number) is in the group now;
// once the user is gone its memberships went with it. said: what undo took back, on stdout.
const SH_GUARDS = [
  "refuse() { printf '%s: %s: refused: %s\\n' \"$0\" \"$1\" \"$2\" >&2; status=1; return 1; }",
  "said() { printf '%s: %s\\n' \"$0\" \"$1\"; }",
  "lost() { printf '%s: %s: not in force: %s\\n' \"$0\" \"$1\" \"$2\"; status=1; }",
  "uid_is() { [ \"$(id -u -- \"$1\" 2>/dev/null)\" = \"$2\" ]; }",
  "user_is() { uid_is \"$1\" \"$2\" || refuse \"$3\" \"not uid $2 on this host now (gone, or made again): nothing applied, make the plan again\"; }",
  "group_is() { [ \"$(getent group -- \"$1\" | cut -d: -f3)\" = \"$2\" ] || refuse \"group $3\" \"not gid $2 on this host now (gone, or made again): not joined, make the plan again\"; }",
  "in_group() {",
  "  if [ \"$(id -u -- \"$1\" 2>/dev/null)\" != \"$2\" ]; then said \"$4 (uid $2) is gone, and its membership of group $5 with it: nothing to remove\"; return 1; fi",
  "  id -nG -- \"$1\" | tr ' ' '\\n' | grep -qx -- \"$3\"",
  "}",
  "held() {",
  "  if [ ! -e \"$1\" ] && [ ! -L \"$1\" ]; then lost \"$4\" \"gone\"; return 0; fi",
  "  if [ -L \"$1\" ]; then lost \"$4\" \"now a symbolic link\"; return 0; fi",
  "  acl_is \"$1\" \"$3\" && return 0",
  "  if [ \"$(stat -c %d:%i -- \"$1\")\" != \"$2\" ]; then lost \"$4\" \"replaced since it was planned (a new file, without the grant)\"",
  "  else lost \"$4\" \"its ACL is not the one granted (the entry removed or changed)\"; fi",
  "}",
  "member() {",
  "  uid_is \"$1\" \"$2\" || { lost \"$5\" \"not uid $2 now: its membership of group $6 is gone with it\"; return 0; }",
  "  [ \"$(getent group -- \"$3\" | cut -d: -f3)\" = \"$4\" ] || { lost \"group $6\" \"gone, or not gid $4 now\"; return 0; }",
  "  id -nG -- \"$1\" | tr ' ' '\\n' | grep -qx -- \"$3\" || lost \"$5\" \"not in group $6 (the membership was removed)\"",
  "}",
  "owns() { [ \"$(stat -c %u -- \"$1\" 2>/dev/null)\" = \"$2\" ] || lost \"$3\" \"not owned by uid $2 now\"; }",
  "same() {",
  "  p=$1 want=$2 shown=$3 how=${4:-} granted=${5:-} d=/ r=${1#/} why=",
  "  [ -e \"$p\" ] || [ -L \"$p\" ] || { printf '%s: %s: gone, skipped\\n' \"$0\" \"$shown\" >&2; return 1; }",
  "  while [ -n \"$r\" ] && [ -z \"$why\" ]; do",
  "    c=${r%%/*}",
  "    case $r in */*) r=${r#*/} ;; *) r= ;; esac",
  "    e=${d%/}/$c",
  "    if ! x=$(stat -c '%u %f' -- \"$d\" \"$e\" 2>/dev/null); then why=\"an entry on the way is gone\"; break; fi",
  "    set -- $x",
  "    if [ \"$1\" != 0 ]; then why=\"a directory on the way is owned by uid $1\"",
  "    elif [ $((0x$2 & 18)) != 0 ] && { [ $((0x$2 & 512)) = 0 ] || [ \"$3\" != 0 ]; }; then why=\"a directory on the way may be written by others than root\"",
  "    elif [ -L \"$e\" ]; then why=\"an entry on the way is a symbolic link\"",
  "    fi",
  "    d=$e",
  "  done",
  "  if [ -z \"$why\" ] && [ \"$(stat -c %d:%i -- \"$p\")\" != \"$want\" ]; then",
  "    case $how in",
  "      new) said \"$shown: replaced since it was planned (only root can have): granting the new file if its ACL is the one planned from\"; return 0 ;;",
  "      undo) if [ -n \"$granted\" ] && acl_is \"$p\" \"$granted\"; then return 0; fi",
  "        printf '%s: %s: replaced since it was granted: nothing of the grant is on it, skipped\\n' \"$0\" \"$shown\" >&2; return 1 ;;",
  "    esac",
  "    why=\"not the file planned on (replaced since)\"",
  "  fi",
  "  [ -z \"$why\" ] || refuse \"$shown\" \"$why\"",
  "}",
  "already() { [ ! -L \"$1\" ] && acl_is \"$1\" \"$3\"; }",
  "acl_is() { [ \"$(getfacl -cnEPp -- \"$1\" | grep -v -e '^default:' -e '^$' | paste -sd, -)\" = \"$2\" ]; }",
  "acl_from() {",
  "  if acl_is \"$1\" \"$4\"; then return 1; fi",
  "  acl_is \"$1\" \"$3\" || refuse \"$2\" \"its ACL is not as planned (changed since the plan was made: make the plan again)\"",
  "}",
];

/**
 * A unit drop-in: the user, its extra groups and capabilities; writes allowed where the run wrote.
 * Paths are quoted values (systemd.syntax(7)), `%` doubled; a group or capability that is not a plain
 * name is refused with a warning. A user name that is not one is an error: without User= the service
 * would run as root.
 */
export function systemdPlan(h: PlanHeader, grants: Grant[], written: string[], version: string,
  opt: { script?: string; outputs?: string[] } = {}): Generated {
  const out: Rendered<"systemd">[] = [];
  const warnings: string[] = [];
  const user = unitName(h.user);
  if (!user) throw new UserError(`${h.user}: not a user name systemd takes as it is: no drop-in written`);
  out.push(unitNote`trace-grant ${version}: run ${what(h)} as ${h.user} (${grantSummary(h)}).`);
  out.push(unitNote`${h.note}`);
  const files = grants.filter((g) => (g.grant === "acl" || g.grant === "search" || g.grant === "owner") && g.apply.length && !g.rootEquivalent);
  const script = opt.script ?? `/etc/trace-grant/${h.user}.sh`;
  out.push(unitLine`[Service]`, unitLine`User=${user}`);
  if (files.length) {
    // the plan is run from a file of root's, not written inline: one reviewed script, whose guards and
    // quoting are the sh plan's, rather than every traced name through systemd's unquoting and then sh's
    const n = files.reduce((a, g) => a + (g.paths?.length ?? 1), 0);
    out.push(unitNote`${n === 1 ? "The file grant (ACL, search bit, ownership) is" : `The ${n} file grants (ACLs, search bits, ownership) are`} applied before every start, so that a file replaced since`,
      unitNote`(useradd rewrites /etc/shadow, an upgrade replaces a configuration file) is granted again, and taken back after every stop.`,
      unitNote`The script is the sh plan, installed where only root can change it (whoever can write it is root at the next start):`,
      unitNote`  trace-grant --user ${h.user} --format sh TRACE | install -D -m 0700 -o root -g root /dev/stdin ${script}`,
      unitLine`ExecStartPre=+/bin/sh ${unitWord(script)} start`, unitLine`ExecStopPost=+/bin/sh ${unitWord(script)} stop`);
  }
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
  // file grants are the script's, but what a service run as the user can read is said here too
  for (const g of grants.filter((x) => x.secret)) out.push(unitNote`exposes secrets (${g.grant} ${subject(g)}): ${g.secret!}`);
  for (const o of h.outputs ?? []) out.push(unitNote`${outputText(h, o)}.`);
  // ExecStartPre=+ grants them again at every start; said so that the admin knows why it matters
  for (const g of grants.filter((x) => x.lasts === false)) {
    out.push(unitNote`does not last (${g.grant} ${subject(g)}): ${join(g.lostBy!.slice(0, 2).map((w) => txt`${w}`), "; ", "text")}; granted again at every start`);
    if (g.lasting) out.push(unitNote`lasting way: ${g.lasting}`);
  }
  for (const g of grants.filter((x) => x.grant === "none")) {
    out.push(unitNote`not covered: ${join(g.accesses.slice(0, 2).map((a) => txt`${a}`), "; ", "text")} (${g.capability ?? "no grant"})`);
  }
  // a private /tmp goes when the service stops: only when nothing the job writes there must outlive it.
  // Otherwise /tmp is the host's, read-only under ProtectSystem=strict but for where the job writes.
  const tmp = (p: string) => /^\/(tmp|var\/tmp)(\/|$)/.test(p);
  const outputs = (opt.outputs ?? []).filter(tmp);
  // an output is made anew by each run: its directory must be writable, not only the file the trace left
  const dirs = outputs.map((p) => p.slice(0, p.lastIndexOf("/")) || "/");
  const rw = [...new Set([...written.filter((p) => !/^\/dev(\/|$)/.test(p) && (outputs.length || !tmp(p))), ...dirs])].sort();
  out.push(unitNote`everything read-only but what the run wrote (ReadOnlyPaths= is implied for the rest)`, unitLine`ProtectSystem=strict`);
  if (rw.length) out.push(unitLine`ReadWritePaths=${join(rw.map((p) => unitWord(p, "-")), " ", "systemd")}`);
  if (outputs.length) {
    out.push(unitNote`no private /tmp: the run left ${join(outputs.slice(0, 3).map((p) => txt`${p}`), ", ", "text")}${outputs.length > 3 ? txt`, … ${outputs.length - 3} more` : txt``} there, which a private /tmp would lose at stop`,
      unitLine`PrivateTmp=no`);
  } else {
    out.push(unitNote`a private /tmp: nothing the run wrote under /tmp outlived it`, unitLine`PrivateTmp=yes`);
  }
  return { text: document(out), warnings };
}
