// From a profile to a grant plan: which of the accesses a run made would be denied to a user, and the
// narrowest grant that allows each. The accesses become (path, mode) checks; the kernel decides them
// (lib/grant/access.ts); this module turns the denials into grants, choosing, in order of preference, a group
// the user could join that already owns what is needed (when it grants nothing dangerous), a directory
// search bit or an ACL entry for the user on the one file, and a capability only where no file-level
// grant exists. What no grant covers is said plainly. Every path is first walked to the file the kernel
// will grant on (resolveNeeds): what anyone but root could redirect is refused, never granted on.

import { checkAccess, R, W, X, modeText, type Check, type UserInfo, type Verdict } from "./access.js";
import type { Addr, SyscallRecord } from "../io/records.js";
import type { Summary } from "../profile/summary.js";
import { specOf } from "../trace/syscalls.js";
import { collapseUnder } from "../trace/paths.js";
import { shWord } from "../render.js";
import { isGlob, patternText } from "../pattern.js";
import micromatch from "micromatch";
import { SENSITIVE } from "../profile/verdict.js";

export interface Grant {
  type: "grant";
  grant: "group" | "search" | "acl" | "owner" | "capability" | "none";
  user: string;
  uid: number;               // the user's number when planned: ACL entries and ownership are by number, and the
                             // script acts only while the name still has it (undo works after the user is gone)
  gid?: number;              // group: the group's number when planned (the script joins only while the name has it)
  path?: string;             // the file or directory; DIR/** when several are collapsed into one grant
  paths?: string[];          // a collapsed grant: every path it covers
  perms?: string;            // acl and search: the user's ACL entry once granted ("r", "rw", "x", "rx")
  group?: string;
  capability?: string;
  blunt?: boolean;           // a capability standing in where no file-level grant is possible
  rootEquivalent?: boolean;  // the capability (or write on the system directory) would let the user become root
  lasts?: boolean;           // file grants: false when a fact of this host says the grant may go without a word
  lostBy?: string[];         // with lasts false: each reason (the file is rewritten by account tools, owned by a package, on tmpfs)
  lasting?: string;          // where one exists: the way to the same access that outlives those (a group, a tmpfiles line, the drop-in)
  dirWrite?: boolean;        // write on a directory: the user may replace any entry in it
  secret?: string;           // the grant exposes secrets: which (a file on the sensitive list, another user's home), why
  alternative?: string;      // with dirWrite: the narrower way to give the job a place to write
  inode?: string;            // "DEV:INO" of the file granted on, as lstat(2) said when planning
  acl?: { before: string; after: string };  // acl and search: the access ACL (getfacl -n) before and after
  mode?: string;             // owner: the file's mode bits before (octal), which undo restores
  files?: { path: string; inode: string; acl?: { before: string; after: string } }[];  // a collapsed grant: each file
  accesses: string[];        // what the run did that this grant allows
  programs?: string[];
  because: string;
  apply: string[];           // shell commands that make the grant (idempotent)
  undo: string[];            // shell commands that take it back
}

export interface PlanHeader {
  type: "plan";
  v: number;
  user: string;
  uid: number;
  groups: string[];
  host: string;
  at: number;                // epoch seconds of the checks
  commands: string[][];
  checked: number;           // (path, mode) checks the kernel answered
  denied: number;
  grants: { [kind: string]: number };
  unchecked: { path: string; why: string; refused?: boolean }[];
  outputs?: { path: string; dir: string; allowed: "already" | "granted" | "not granted" }[];   // the job's own output files
  note: string;
  warning: string;
}

/** A file as lstat(2) gives it. */
export interface FileInfo { dev: number; ino: number; uid: number; gid: number; mode: number; dir: boolean }

/** Where a path leads: the path with no link in it and its file, nowhere, or refused (someone but root could redirect it). */
export type Resolution = { path: string; file: FileInfo } | { gone: true } | { refused: string };

/** What trace-grant must know of this host besides the kernel's answers (an interface, so tests can fake a host). */
export interface Host {
  exists(p: string): boolean;
  /** The path walked from / without trusting anyone but root (lib/grant/host.ts resolvePath). */
  resolve(p: string): Resolution;
  /** The entry the path names (lstat: a link is the link); undefined when gone. */
  stat(p: string): FileInfo | undefined;
  isScript(p: string): boolean;
  /** The file was made at or after `t` (epoch seconds; its birth time, statx(2)): false when unknown. */
  bornSince?(p: string, t: number): boolean;
  /** The packages that own each path (dpkg -S), and whether it is a conffile of one; absent when no package does. */
  packagesOf?(paths: string[]): Map<string, { packages: string[]; conffile: boolean }>;
  /** The file system holding p is a tmpfs (emptied at reboot). */
  onTmpfs?(p: string): boolean;
  /** The file system type when it cannot hold ACLs (proc, sysfs, …), else undefined. */
  noAcl(p: string): string | undefined;
  /** The access ACL of each path as getfacl -n prints it ("user::rw-", "user:1000:r--", …); absent when unknown. */
  acl(paths: string[]): Map<string, string[]>;
  groupName(gid: number): string;
  userName(uid: number): string;
  unprivilegedPortStart(): number;
}

/** One access the run made, as a kernel check: which mode on which path, and why it is needed. */
export interface Need extends Check {
  why: string[];             // "read /etc/shadow", "search /root (for /root/.ssh)"
  programs: string[];
  stand?: string;            // checked on a stand-in for a path that is gone (/proc/1 for /proc/<pid>)
  owner?: boolean;           // needs to own the file (chmod): not an access(2) question
  inode?: string;            // resolved: "DEV:INO" of the file the path names
  refused?: string;          // someone but root could redirect the path: why; no grant is made on it
}

const LIST_MAX = 20;

// Operations and what each needs of the path itself (beyond search on every ancestor). Creating,
// deleting and renaming need write and search on the parent instead.
const SELF: { [op: string]: number } = {
  read: R, list: R, watch: R, readwrite: R | W, write: W, utime: W, setxattr: W, chdir: X, exec: X,
};
const IN_PARENT = new Set(["delete", "rename", "mkdir", "mknod", "symlink", "link"]);
const DENIALS = new Set(["EACCES", "EPERM"]);

/** The operations of a summary that the plan must allow: those that worked, and those denied by permissions. */
export function wantedOps(s: Summary): string[] {
  const ok = s.okOps ?? [];
  const denied = Object.keys(s.errors ?? {}).some((e) => DENIALS.has(e));
  return denied ? s.ops : ok;
}

/**
 * A call made on a descriptor (read, fstat, newfstatat(fd, "", AT_EMPTY_PATH)…): it needs no permission
 * of the path, which was checked when the descriptor was opened (by the run, or by whoever handed it over).
 */
export function byDescriptor(e: SyscallRecord): boolean {
  if (e.fd === undefined || e.kind !== "file") return false;
  const sp = specOf(e.syscall);
  return sp.path === undefined || e.args[sp.path] === "";
}

/**
 * The kernel checks that stand for the file accesses of a profile. Paths with generated names cannot be
 * checked as they were (the pid or temporary file is gone): /proc/<pid> is checked on PID 1 (a process
 * of another user), a temporary name through its directory, and the rest are listed as unchecked.
 */
export function accessNeeds(items: Summary[], host: Pick<Host, "exists" | "isScript" | "bornSince">, homes: string[] = [],
  start?: number): { needs: Need[]; unchecked: { path: string; why: string }[]; outputs: string[] } {
  const needs = new Map<string, Need>();
  const unchecked: { path: string; why: string }[] = [];
  const outputs: string[] = [];
  // a file the traced run made (O_CREAT, and born since the trace began) is the job's own output: each
  // run makes it anew, so what it needs is its directory, not an entry on the copy the traced run left
  const made = (p: string) => start !== undefined && !!host.bornSince?.(p, start);
  const add = (path: string, mode: number, why: string, programs: string[], extra: Partial<Need> = {}) => {
    const key = path + "\0" + (extra.owner ? "owner" : extra.how ?? "");
    let n = needs.get(key);
    if (!n) { n = { path, mode: 0, why: [], programs: [], ...extra }; needs.set(key, n); }
    n.mode |= mode;
    if (n.why.length < LIST_MAX && !n.why.includes(why)) n.why.push(why);
    for (const p of programs) if (n.programs.length < LIST_MAX && !n.programs.includes(p)) n.programs.push(p);
  };
  // the directories above a name, from the first one that is no glob of the tools' (glob: where it starts)
  const ancestors = (p: string, why: string, programs: string[], glob = -1) => {
    for (let d = parent(p); d !== undefined; d = parent(d)) {
      if (glob < 0 || d.length < glob) add(d, X, `search ${d} (${why})`, programs);
    }
  };

  // a profile keys a file on the file the kernel opened, with the names it was called by beside it: the
  // permissions are those of the walk of each name (a link of the user's to /etc/shadow is refused when
  // that name is walked, never granted on the file it leads to), so the needs are the names'
  const called = items.flatMap((s) => (s.kind === "file" && s.names?.length ? s.names.map((n) => ({ ...s, path: n, names: undefined })) : [s]));
  for (const s of called) {
    if (s.kind !== "file" || !s.path?.startsWith("/")) continue;
    const glob = globStart(s, s.path);
    if (glob >= 0 && s.path.endsWith("/**") && glob === s.path.length - 2) continue;      // a collapsed DIR/**
    // a search that found nothing must still find nothing, not be refused: it needs its directories
    if (s.probe) {
      const home = homes.find((h) => h !== "/" && s.path!.startsWith(h + "/"));
      // run as the user, the program looks in the user's own home (~/.config, ~/.local): not the traced user's
      if (home) unchecked.push({ path: s.path, why: `a search in ${home}, the traced user's home: as the user it looks in its own` });
      else ancestors(s.path, `look for ${s.path}`, s.programs, glob);
      continue;
    }
    // calls on a descriptor the process was given (stdin, a redirected stdout) need no permission of it
    if (s.syscalls.every((c) => { const sp = specOf(c); return sp.path === undefined && sp.fd !== undefined; })) continue;
    const ops = wantedOps(s);
    if (!ops.length) continue;
    let path = s.path;
    let stand: string | undefined;
    if (path === "/proc/self" || path.startsWith("/proc/self/")) continue;      // the process's own: always its to read
    if (path.startsWith("/proc/<pid>")) {
      stand = path;
      path = path.replace(/^\/proc\/<pid>/, "/proc/1").replace("/task/<tid>", "/task/1").replace(/\/<fd>$/, "/0");
    }
    const generated = !stand && glob >= 0;
    const renamedOver = ops.includes("create") && s.syscalls.some((c) => c.startsWith("rename"));
    const what = (op: string) => `${op} ${s.path}`;
    const output = !stand && !generated && ops.includes("create") && host.exists(path) && made(path);
    if (output && !outputs.includes(path)) outputs.push(path);
    for (const op of ops) {
      const inParent = IN_PARENT.has(op) || renamedOver || (output && (op === "create" || op === "write" || op === "readwrite")) ||
        ((op === "create" || op === "mkdir") && (generated || !host.exists(path)));
      if (op === "mkdir" && !inParent) continue;                                   // made by the traced run itself
      if (inParent) {
        const dir = parent(path);
        const tell = output ? `${op} ${s.path} (output of the job, made anew by each run)` : `${op} ${s.path}`;
        if (dir !== undefined && (!generated || dir.length < glob)) { add(dir, W | X, tell, s.programs); ancestors(dir, what(op), s.programs); }
        else unchecked.push({ path: s.path, why: `${op} in a directory with a generated name` });
        continue;
      }
      if (generated) { unchecked.push({ path: s.path, why: "a generated name (a temporary file): checked through its directory only" }); continue; }
      let mode = op === "create" ? W : SELF[op] ?? 0;
      if (op === "exec" && host.isScript(path)) mode |= R;                        // the interpreter reads the script
      if (op === "chmod") add(path, 0, what(op), s.programs, { owner: true });
      if (stand && (op === "readlink" || mode === R)) add(path, R, what(op), s.programs, { stand, how: op === "readlink" ? "readlink" : "open" });
      else if (mode) add(path, mode, what(op), s.programs, stand ? { stand } : {});
      ancestors(path, what(op), s.programs);
    }
    if (generated) ancestors(path, `${ops.join(",")} ${s.path}`, s.programs, glob);
  }
  const seen = new Set<string>();
  return { needs: [...needs.values()], unchecked: unchecked.filter((u) => !seen.has(u.path) && seen.add(u.path)), outputs };
}

/**
 * Each need on the file the kernel will grant on: its path walked from / without following a link that
 * anyone but root could have made (Host.resolve), so that the plan names the file itself, with its
 * device and inode. A path that someone other than root could redirect (a link of the user's, an entry
 * of a directory others may write) is marked refused: it is asked of the kernel only as named, by the
 * user, and never granted on. /proc stand-ins are asked by doing them and are never granted on.
 */
export function resolveNeeds(needs: Need[], host: Pick<Host, "resolve">): Need[] {
  const out = new Map<string, Need>();
  for (const n of needs) {
    let m: Need = n;
    if (!n.how && !n.stand) {
      const r = host.resolve(n.path);
      if ("refused" in r) m = { ...n, refused: r.refused };
      else if ("path" in r) m = { ...n, path: r.path, inode: `${r.file.dev}:${r.file.ino}` };
    }
    const key = m.path + "\0" + (m.owner ? "owner" : m.how ?? "") + "\0" + (m.refused ? "refused" : "");
    const had = out.get(key);
    if (!had) { out.set(key, { ...m, why: [...m.why], programs: [...m.programs] }); continue; }
    had.mode |= m.mode;
    for (const w of m.why) if (had.why.length < LIST_MAX && !had.why.includes(w)) had.why.push(w);
    for (const p of m.programs) if (had.programs.length < LIST_MAX && !had.programs.includes(p)) had.programs.push(p);
  }
  return [...out.values()];
}

/** The refused needs the user is denied (or must own and does not): said instead of granted. */
export function refusals(needs: Need[], verdicts: Verdict[], host: Pick<Host, "stat">, uid: number): { path: string; why: string; refused: true }[] {
  const out: { path: string; why: string; refused: true }[] = [];
  const seen = new Set<string>();
  needs.forEach((n, i) => {
    if (!n.refused || seen.has(n.path)) return;
    const denied = n.owner ? host.stat(n.path) !== undefined && host.stat(n.path)!.uid !== uid : verdicts[i] !== "ok" && verdicts[i] !== "gone";
    if (!denied) return;
    seen.add(n.path);
    out.push({ path: n.path, why: `refused, not granted: ${n.refused} (for ${n.why.slice(0, 2).join("; ")})`, refused: true });
  });
  return out;
}

function parent(p: string): string | undefined {
  if (p === "/") return undefined;
  const k = p.lastIndexOf("/");
  return k <= 0 ? "/" : p.slice(0, k);
}

/** Groups that must never be offered: membership is root in all but name, or reads every secret. */
export const DANGEROUS_GROUPS: { [name: string]: string } = {
  root: "is root's own group", sudo: "may run anything as root", wheel: "may become root", admin: "may run anything as root",
  shadow: "reads every password hash", disk: "reads and writes raw disks: root in all but name",
  kmem: "reads kernel memory", docker: "controls the Docker daemon: root in all but name", lxd: "controls LXD: root in all but name",
  libvirt: "controls virtual machines and their disks", staff: "writes /usr/local: root in all but name",
  tty: "writes to every terminal", utmp: "rewrites login records", input: "reads every keyboard", video: "reads the screen",
};
const KNOWN_GROUPS: { [name: string]: string } = {
  adm: "reads the system logs (/var/log) and nothing that changes the system",
  "systemd-journal": "reads the whole systemd journal",
};

// Capabilities that a user may be given for one program without handing it root, and the others.
const GRANTABLE = new Set(["CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_DAC_READ_SEARCH", "CAP_SYSLOG", "CAP_PERFMON",
  "CAP_SYS_TIME", "CAP_IPC_LOCK", "CAP_SYS_NICE", "CAP_AUDIT_READ", "CAP_KILL", "CAP_WAKE_ALARM"]);
const WHY_ROOT: { [cap: string]: string } = {
  CAP_SYS_ADMIN: "mounts, namespaces and much more", CAP_SYS_MODULE: "loads kernel code", CAP_SYS_PTRACE: "reads and changes any process's memory",
  CAP_SYS_RAWIO: "reads and writes devices and memory directly", CAP_SETUID: "becomes any user", CAP_SETGID: "joins any group",
  CAP_SETPCAP: "hands out capabilities", CAP_CHOWN: "takes ownership of any file", CAP_FOWNER: "changes the mode of any file",
  CAP_DAC_OVERRIDE: "writes any file", CAP_BPF: "loads programs into the kernel", CAP_SYS_BOOT: "reboots or replaces the kernel",
  CAP_MKNOD: "makes device nodes that reach raw disks", CAP_SYS_CHROOT: "tricks set-user-ID programs with a forged root",
};

/**
 * The kernel's answers as `user`: for each need, allowed or the errno; for groups that own denied
 * paths (and are safe to offer), which denials membership would lift; and for each denied path, the
 * bits the user may use now, which an ACL entry for it must keep.
 */
export async function askKernel(user: UserInfo, needs: Need[], host: Host, withGroups: boolean):
  Promise<{ verdicts: Verdict[]; groupFixes: Map<number, Set<number>>; current: Map<string, number>; checked: number }> {
  const askable = needs.map((n, i) => ({ n, i })).filter(({ n }) => !n.owner);
  // a refused path is asked as the user names it (what the user reaches there is the user's own business)
  const asked = (n: Need): Check => (n.refused ? { path: n.path, mode: n.mode, how: "name" } : n);
  const answers = await checkAccess(user, askable.map(({ n }) => asked(n)));
  const verdicts: Verdict[] = needs.map(() => "ok");
  askable.forEach(({ i }, k) => { verdicts[i] = answers[k]; });
  // a file replaced between the walk and the check (only root can, there: useradd rewrites /etc/shadow)
  // is walked and asked again, once; never granted on unless it then holds still
  const changed = needs.map((_, i) => i).filter((i) => verdicts[i] === "ECHANGED");
  for (const i of changed) {
    const r = host.resolve(needs[i].path);
    if ("path" in r) Object.assign(needs[i], { path: r.path, inode: `${r.file.dev}:${r.file.ino}` });
    else if ("refused" in r) needs[i].refused = r.refused;
  }
  const again = await checkAccess(user, changed.map((i) => asked(needs[i])));
  changed.forEach((i, k) => { verdicts[i] = again[k]; });
  needs.forEach((n, i) => { if (verdicts[i] === "ECHANGED") n.refused = `${n.path}: replaced while it was being checked`; });
  const denied = (i: number) => verdicts[i] !== "ok" && verdicts[i] !== "gone" && !needs[i].owner && !needs[i].refused;

  const groupFixes = new Map<number, Set<number>>();
  if (withGroups) {
    const mine = new Set(user.groups.map((g) => g.gid));
    const byGid = new Map<number, number[]>();
    needs.forEach((n, i) => {
      if (!denied(i)) return;
      const gid = host.stat(n.path)?.gid;
      if (gid === undefined || gid === 0 || mine.has(gid) || host.groupName(gid) in DANGEROUS_GROUPS) return;
      byGid.set(gid, [...(byGid.get(gid) ?? []), i]);
    });
    for (const [gid, idx] of byGid) {
      if (idx.length < 2) continue;
      const again = await checkAccess(user, idx.map((i) => asked(needs[i])), [gid]);
      groupFixes.set(gid, new Set(idx.filter((_, k) => again[k] === "ok")));
    }
  }

  const denials = new Map(needs.filter((_, i) => denied(i)).map((n) => [n.path, n.inode]));
  const deniedPaths = [...denials.keys()];
  const bits = await checkAccess(user, deniedPaths.flatMap((path) => [R, W, X].map((mode) => ({ path, mode, inode: denials.get(path) }))));
  const current = new Map(deniedPaths.map((p, k) => [p, [R, W, X].reduce((m, b, j) => (bits[k * 3 + j] === "ok" ? m | b : m), 0)]));
  return { verdicts, groupFixes, current, checked: askable.length };
}

export interface PlanInput {
  user: UserInfo;
  needs: Need[];
  verdicts: Verdict[];               // the kernel's answer for each need, as the user
  groupFixes: Map<number, Set<number>>;   // gid → indexes of needs that membership of it would allow (kernel-checked)
  current?: Map<string, number>;     // for denied paths: the bits (R, W, X) the kernel allows the user now
  items: Summary[];                  // the profile (for privileged operations and peers)
  host: Host;
  collapse?: number;
  sensitive?: string[];              // globs of files whose grant exposes secrets (default: SENSITIVE, trace-summarize's list)
  homes?: { user: string; home: string }[];   // the accounts' homes: a grant in another user's is a secret too
}

/**
 * Why a grant on these paths exposes secrets, or undefined: a path on the sensitive list (the one
 * trace-summarize names in its verdict), or in the home of another account than the grantee's.
 */
export function secretOf(paths: string[], inp: Pick<PlanInput, "sensitive" | "homes" | "user">): string | undefined {
  const list = inp.sensitive ?? SENSITIVE;
  const why: string[] = [];
  for (const p of paths) {
    if (micromatch.isMatch(p, list, { dot: true })) { why.push(`${p} is on the list of sensitive files`); continue; }
    const h = (inp.homes ?? []).find((x) => x.user !== inp.user.name && x.home !== "/" && (p === x.home || p.startsWith(x.home + "/")));
    if (h) why.push(`${p} is in the home of ${h.user}`);
  }
  if (!why.length) return undefined;
  return why.slice(0, 3).join("; ") + (why.length > 3 ? `; … ${why.length - 3} more` : "");
}

/** The grants, in a stable order: groups, search bits, ACLs, ownership, capabilities, then what no grant covers. */
export function planGrants(inp: PlanInput): Grant[] {
  const { user, needs, verdicts, host } = inp;
  const u = user.name;
  const who: Who = { name: u, uid: user.uid };
  const secretField = (paths: string[]) => { const w = secretOf(paths, inp); return w ? { secret: w } : {}; };
  const grants: Grant[] = [];
  const denied = needs.map((_, i) => i).filter((i) => verdicts[i] !== "ok" && verdicts[i] !== "gone" && !needs[i].owner && !needs[i].refused);
  const covered = new Set<number>();

  // 1. a group that already owns what is needed, when at least two denials go away with it and it is safe
  const groups = [...inp.groupFixes.entries()]
    .map(([gid, fixed]) => ({ gid, name: host.groupName(gid), fixed: [...fixed].filter((i) => denied.includes(i)) }))
    .filter((g) => g.fixed.length >= 2 && !(g.name in DANGEROUS_GROUPS))
    .sort((a, b) => b.fixed.length - a.fixed.length || a.gid - b.gid);
  for (const g of groups) {
    const fixed = g.fixed.filter((i) => !covered.has(i));
    if (fixed.length < 2) continue;
    fixed.forEach((i) => covered.add(i));
    const what = KNOWN_GROUPS[g.name] ?? `gives whatever else group ${g.name} can access on this host: review that`;
    grants.push({
      type: "grant", grant: "group", user: u, uid: user.uid, gid: g.gid, group: g.name, accesses: accessesOf(fixed.map((i) => needs[i])),
      programs: programsOf(fixed.map((i) => needs[i])),
      ...secretField(fixed.map((i) => needs[i].path)),
      because: `group ${g.name} already owns ${fixed.length} of the denied paths with the access needed; one membership instead of ` +
        `${fixed.length} ACL entries, and it holds when files are replaced (log rotation). Membership also ${what}.`,
      apply: [`id -nG ${sh(u)} | tr ' ' '\\n' | grep -qx ${sh(g.name)} || usermod -a -G ${sh(g.name)} ${sh(u)}`],
      undo: [`! id -nG ${sh(u)} | tr ' ' '\\n' | grep -qx ${sh(g.name)} || gpasswd -d ${sh(u)} ${sh(g.name)} >/dev/null`],
    });
  }

  // 2. per path: a file-level grant where the file system holds ACLs, else a capability or nothing
  const byPath = new Map<string, number[]>();
  for (const i of denied) {
    if (covered.has(i)) continue;
    const l = byPath.get(needs[i].path) ?? [];
    l.push(i);
    byPath.set(needs[i].path, l);
  }
  const aclPaths = [...byPath.keys()].filter((p) => !host.noAcl(p) && verdicts[byPath.get(p)![0]] !== "EROFS");
  const present = aclPaths.length ? host.acl(aclPaths) : new Map<string, string[]>();
  const fileGrants: Grant[] = [];
  for (const [path, idx] of byPath) {
    const ns = idx.map((i) => needs[i]);
    const mode = ns.reduce((m, n) => m | n.mode, 0);
    const acc = accessesOf(ns), programs = programsOf(ns);
    const verdict = verdicts[idx[0]];
    const fsType = host.noAcl(path);
    if (verdict === "EROFS") {
      grants.push(none(who, path, acc, programs, undefined, `${path} is on a read-only file system: no grant makes it writable`));
      continue;
    }
    if (fsType) {
      // every /proc/1 path is a stand-in: the profile names other processes /proc/<pid>
      const stand = ns.find((n) => n.stand)?.stand ?? (/^\/proc\/1(\/|$)/.test(path) ? path.replace(/^\/proc\/1/, "/proc/<pid>") : undefined);
      if (stand) {
        grants.push(none(who, stand, acc, programs, "CAP_SYS_PTRACE",
          `${stand} of another user's process (checked on ${path}) is open only to a process allowed to trace it: that is CAP_SYS_PTRACE, ` +
          `which ${WHY_ROOT.CAP_SYS_PTRACE}. Run this part as root or leave it out.`));
      } else if (!(mode & W)) {
        grants.push(capability(who, path, acc, programs, "CAP_DAC_READ_SEARCH", true,
          `${path} is on ${fsType}, which holds no ACLs: the only grant is CAP_DAC_READ_SEARCH, which reads every file on the host (blunt)`));
      } else {
        grants.push(none(who, path, acc, programs, "CAP_DAC_OVERRIDE",
          `${path} is on ${fsType}, which holds no ACLs; writing it needs CAP_DAC_OVERRIDE, which ${WHY_ROOT.CAP_DAC_OVERRIDE}`));
      }
      continue;
    }
    const st = host.stat(path);
    const before = present.get(path);
    const inode = ns.find((n) => n.inode)?.inode;
    if (!st || !before || !inode) {
      grants.push(none(who, path, acc, programs, undefined, `the ACL of ${path} could not be read (is getfacl installed?): no ACL grant is planned on it`));
      continue;
    }
    // a named entry decides alone (other no longer applies): it keeps what the user may do now
    const now = inp.current?.get(path) ?? 0;
    const { after, mine } = aclGrant(before, user.uid, mode | now);
    const lacking = mode & ~now || mode;
    const search = lacking === X && st.dir;
    const acl = { before: before.join(","), after: after.join(",") };
    const g: Grant = {
      type: "grant", grant: search ? "search" : "acl", user: u, uid: user.uid, path, perms: modeText(mine), accesses: acc, programs,
      ...(search ? {} : secretField([path])),
      because: search
        ? `${u} cannot pass through ${path}; an ACL entry with search (x) alone lets it reach the entries it names, without listing the directory`
        : `${u} is denied ${verbOf(lacking, st.dir)} ${path}; an ACL entry for ${u} on this ${st.dir ? "directory" : "file"} alone allows it, ` +
          `and the mask is set so that no other entry gains anything`,
      inode, acl,
      apply: [`setfacl -n --set ${sh(acl.after)} -- ${sh(path)}`],
      undo: [`setfacl -n --set ${sh(acl.before)} -- ${sh(path)}`],
    };
    if (st.dir && lacking & W) {
      // write on a directory lets the user rename, delete and replace every entry in it
      const system = st.uid === 0 || SYSTEM_TREES.test(path);
      g.dirWrite = true;
      if (system) g.rootEquivalent = true;
      g.alternative = `a directory of the job's own for what it creates: make one (install -d -o ${u} /var/lib/JOB) and point the job there, ` +
        `or run it as a systemd service with StateDirectory=JOB (or RuntimeDirectory=, CacheDirectory=, LogsDirectory=)`;
      g.because += `. Writing a directory lets ${u} create, rename, delete and replace any entry in it` +
        (system ? `, and ${path} holds files others rely on (${st.uid === 0 ? "it is root's" : "a system directory"}): that is root in all but name, ` +
          `so the script does not apply it` : `: files that ${host.userName(st.uid)} and others rely on`) + `. Narrower: ${g.alternative}`;
    }
    fileGrants.push(g);
  }
  grants.push(...collapseGrants(fileGrants, inp.collapse));

  // 3. chmod of files the user does not own
  for (let i = 0; i < needs.length; i++) {
    const n = needs[i];
    if (!n.owner || n.refused || !n.inode) continue;
    const st = host.stat(n.path);
    if (!st || st.uid === user.uid) continue;
    const mode = st.mode.toString(8).padStart(4, "0");
    grants.push({
      type: "grant", grant: "owner", user: u, uid: user.uid, path: n.path, accesses: n.why, programs: n.programs, ...secretField([n.path]),
      because: `changing the mode of ${n.path} is for its owner only (or CAP_FOWNER, which ${WHY_ROOT.CAP_FOWNER}); making ${u} the owner is the file-level grant. ` +
        `As owner ${u} also decides who else may use it (its mode and ACL)`,
      inode: n.inode, mode,
      apply: [`chown -h ${user.uid} -- ${sh(n.path)}`], undo: [`chown -h ${st.uid} -- ${sh(n.path)}`, `chmod ${mode} -- ${sh(n.path)}`],
    });
  }

  // 4. privileged operations
  const start = host.unprivilegedPortStart();
  for (const s of inp.items) {
    if (s.kind !== "priv" || !s.capability) continue;
    const worked = s.ok > 0 || Object.keys(s.errors).some((e) => DENIALS.has(e));
    if (!worked) continue;
    const acc = (s.evidence ?? [s.op ?? "?"]).map((e) => e.replace(/ \((ok|E[A-Z]+|no result)\)$/, ""));
    if (s.op === "bind") {
      const ports = bindPorts(inp.items).filter((p) => p < start);
      if (!ports.length) continue;                   // this host lets anyone bind those ports
      grants.push(capability(who, undefined, acc, s.programs, s.capability, false,
        `binding port${ports.length > 1 ? "s" : ""} ${ports.join(", ")} (below ${start}, net.ipv4.ip_unprivileged_port_start on this host) needs CAP_NET_BIND_SERVICE; ` +
        `no file grant exists. The alternative is lowering that sysctl, which opens those ports to every user.`));
      continue;
    }
    if (GRANTABLE.has(s.capability)) {
      grants.push(capability(who, undefined, acc, s.programs, s.capability, s.capability === "CAP_DAC_READ_SEARCH",
        `${s.op} needs ${s.capability}; no file-level grant exists`));
    } else {
      grants.push(none(who, undefined, acc, s.programs, s.capability,
        `${s.op} needs ${s.capability}, which ${WHY_ROOT[s.capability] ?? "is root in all but name"}: no grant short of root covers it. ` +
        `Run this part as root or leave it out.`));
    }
  }
  return durability(grants.sort(byRank), host, user);
}

// Files that account tools and visudo write anew (a new inode: an ACL entry goes with the old file)
const REWRITTEN: { [path: string]: string } = {
  "/etc/passwd": "account tools (useradd, usermod, userdel, chfn, chsh, vipw)", "/etc/shadow": "account tools (useradd, usermod, passwd, chpasswd, chage, vipw -s)",
  "/etc/group": "account tools (groupadd, groupmod, usermod -G, gpasswd, vigr)", "/etc/gshadow": "account tools (groupadd, gpasswd, usermod -G, vigr -s)",
  "/etc/subuid": "account tools (useradd, usermod --add-subuids)", "/etc/subgid": "account tools (useradd, usermod --add-subgids)",
  "/etc/sudoers": "visudo",
};
// Groups whose membership is root in all but name: never offered, not even as the lasting way
const ROOT_EQUIVALENT = new Set(["root", "sudo", "wheel", "admin", "disk", "kmem", "docker", "lxd", "libvirt", "staff"]);

/**
 * Whether each file grant lasts, from facts of this host: the files account tools and visudo write
 * anew, files a package owns (an upgrade may replace them; a conffile when it changes), files on a
 * tmpfs or under /run (gone at reboot). And where one exists, the lasting way to the same access: the
 * group the distribution made for exactly it (the file's group already allows what is needed; never
 * a root-equivalent group), a systemd-tmpfiles line for /run, else granting at every start.
 */
export function durability(grants: Grant[], host: Host, user: UserInfo): Grant[] {
  const fileGrants = grants.filter((g) => (g.grant === "acl" || g.grant === "search" || g.grant === "owner") && g.path);
  const paths = fileGrants.flatMap((g) => g.paths ?? [g.path!]);
  const pkgs = paths.length && host.packagesOf ? host.packagesOf(paths) : new Map<string, { packages: string[]; conffile: boolean }>();
  for (const g of fileGrants) {
    const why: string[] = [];
    const ps = g.paths ?? [g.path!];
    for (const p of ps) {
      if (REWRITTEN[p]) why.push(`${p} is written anew by ${REWRITTEN[p]}: the grant goes with the old file`);
      const k = pkgs.get(p);
      if (k) why.push(k.conffile ? `${p} is a configuration file of ${k.packages.join(", ")}: an upgrade that changes it replaces it`
        : `${p} belongs to ${k.packages.join(", ")}: an upgrade replaces it`);
      if (/^\/run(\/|$)/.test(p) || host.onTmpfs?.(p)) why.push(`${p} is on ${/^\/run(\/|$)/.test(p) ? "/run" : "a tmpfs"}: gone at reboot`);
    }
    g.lasts = why.length === 0;
    if (g.lasts) continue;
    g.lostBy = why.slice(0, LIST_MAX);
    // a group that already has the access on every file of the grant: membership does not go with the file
    const st = ps.map((p) => host.stat(p));
    const want = [..."rwx"].reduce((m, c, i) => (g.perms?.includes(c) ? m | (4 >> i) : m), 0);
    const gid = st[0]?.gid;
    const groupOk = g.grant !== "owner" && gid !== undefined && gid !== 0 && st.every((f) => f && f.gid === gid && (((f.mode >> 3) & 7) & want) === want);
    const name = groupOk ? host.groupName(gid!) : undefined;
    if (name && !ROOT_EQUIVALENT.has(name) && !user.groups.some((x) => x.gid === gid)) {
      g.lasting = `group ${name} (gid ${gid}), the group the distribution gave ${ps.length === 1 ? "the file" : "the files"}, already has it on ${ps.length === 1 ? ps[0] : `these ${ps.length} files`}: ` +
        `membership lasts when the file is written anew` + (DANGEROUS_GROUPS[name] ? `; it also ${DANGEROUS_GROUPS[name]}` : KNOWN_GROUPS[name] ? `; it also ${KNOWN_GROUPS[name]}` : `; review what else group ${name} can access`) +
        ` (usermod -a -G ${name} ${user.name})`;
    } else if (ps.every((p) => /^\/run\//.test(p)) && g.grant !== "owner" && g.perms) {
      g.lasting = `a systemd-tmpfiles line, applied at every boot: ${ps.map((p) => `a+ ${p} - - - - u:${user.uid}:${g.perms}`).join("; ")} (in /etc/tmpfiles.d/)`;
    } else {
      g.lasting = `grant it at every start: the drop-in's ExecStartPre=+ (trace-grant --format systemd), or sh PLAN run -- COMMAND; sh PLAN check says when it is gone`;
    }
  }
  return grants;
}

function capability(u: Who, path: string | undefined, accesses: string[], programs: string[], cap: string, blunt: boolean, because: string): Grant {
  const g: Grant = { type: "grant", grant: "capability", user: u.name, uid: u.uid, capability: cap, accesses, programs, because, apply: [], undo: [] };
  if (path) g.path = path;
  if (blunt) g.blunt = true;
  if (cap === "CAP_DAC_READ_SEARCH") g.secret = "CAP_DAC_READ_SEARCH reads every file on the host, every secret among them";
  return g;
}

function none(u: Who, path: string | undefined, accesses: string[], programs: string[], cap: string | undefined, because: string): Grant {
  const g: Grant = { type: "grant", grant: "none", user: u.name, uid: u.uid, accesses, programs, because, apply: [], undo: [] };
  if (path) g.path = path;
  if (cap) { g.capability = cap; g.rootEquivalent = !GRANTABLE.has(cap); }
  return g;
}

type Who = { name: string; uid: number };

function bindPorts(items: Summary[]): number[] {
  const ports = items.filter((s) => s.kind === "net" && s.role === "local" && (s.ops.includes("bind")) && isIp(s.addr))
    .map((s) => s.addr!.port!).filter((p) => p !== undefined && p > 0 && p < 1024);
  return [...new Set(ports)].sort((a, b) => a - b);
}
const isIp = (a?: Addr) => a !== undefined && (a.family === "inet" || a.family === "inet6");

function accessesOf(ns: Need[]): string[] {
  const out: string[] = [];
  for (const n of ns) for (const w of n.why) if (out.length < LIST_MAX && !out.includes(w)) out.push(w);
  return out;
}
function programsOf(ns: Need[]): string[] {
  return [...new Set(ns.flatMap((n) => n.programs))].sort().slice(0, LIST_MAX);
}

// Trees whose directories hold what the system and its services rely on: write there is root's to give.
const SYSTEM_TREES = /^\/(etc|usr|boot|root|bin|sbin|lib[^/]*|opt|srv|var\/(lib|cache|spool|log|mail|backups|opt|local)|var)?(\/|$)/;

const TAG_ORDER = ["user", "group", "mask", "other"];
const bitsOf = (t: string) => (t[0] === "r" ? R : 0) | (t[1] === "w" ? W : 0) | (t[2] === "x" ? X : 0);
const textOf = (m: number) => (m & R ? "r" : "-") + (m & W ? "w" : "-") + (m & X ? "x" : "-");

/**
 * The access ACL once `uid` has an entry with `want`: the mask must then let that entry through, and
 * a wider mask would widen every other named entry and the owning group, so each of those is first
 * narrowed to what it was allowed before (entry and old mask). Everyone else's effective rights stay
 * exactly as they were. `before` and the result are as getfacl -n prints them.
 */
export function aclGrant(before: string[], uid: number, want: number): { after: string[]; mine: number } {
  const es = before.map((l) => {
    const m = /^(user|group|mask|other):([0-9]*):([r-][w-][x-])$/.exec(l);
    if (!m) throw new Error(`unexpected ACL entry: ${l}`);
    return { tag: m[1], id: m[2], bits: bitsOf(m[3]) };
  });
  const mask = es.find((e) => e.tag === "mask")?.bits;
  const me = String(uid);
  const had = es.find((e) => e.tag === "user" && e.id === me);
  const mine = want | (had ? had.bits & (mask ?? 7) : 0);
  const out = es.filter((e) => e.tag !== "mask" && !(e.tag === "user" && e.id === me))
    .map((e) => (e.tag === "other" || (e.tag === "user" && e.id === "") ? e : { ...e, bits: e.bits & (mask ?? 7) }));
  out.push({ tag: "user", id: me, bits: mine });
  const newMask = out.filter((e) => e.tag === "group" || (e.tag === "user" && e.id !== "")).reduce((m, e) => m | e.bits, 0);
  out.push({ tag: "mask", id: "", bits: newMask });
  // the order the kernel keeps (and getfacl prints): by tag, the owner's entry first, then by id
  out.sort((a, b) => TAG_ORDER.indexOf(a.tag) - TAG_ORDER.indexOf(b.tag) || (a.id === "" ? -1 : b.id === "" ? 1 : Number(a.id) - Number(b.id)));
  return { after: out.map((e) => `${e.tag}:${e.id}:${textOf(e.bits)}`), mine };
}

function verbOf(mode: number, dir?: boolean): string {
  return [mode & R ? (dir ? "listing" : "reading") : "", mode & W ? (dir ? "adding and removing entries in" : "writing") : "",
    mode & X ? (dir ? "passing through" : "executing") : ""].filter(Boolean).join(" and ");
}

/** Shell quoting (lib/render.ts shWord): a bare word when safe, else single quotes. */
export const sh = shWord;

/**
 * Folds the ACL grants with the same entry under a directory holding more than `n` of them into one
 * grant named DIR/**. It still lists, applies and undoes every file: nothing is granted that was not used.
 */
export function collapseGrants(grants: Grant[], n?: number): Grant[] {
  if (!n) return grants;
  const out: Grant[] = [];
  const byPerm = new Map<string, Grant[]>();
  for (const g of grants) {
    if (g.grant !== "acl" || !g.path || g.dirWrite) { out.push(g); continue; }
    const l = byPerm.get(g.perms!) ?? [];
    l.push(g);
    byPerm.set(g.perms!, l);
  }
  for (const list of byPerm.values()) {
    out.push(...collapseUnder(list, (g) => g.path!, n, (dir, items) => {
      const all = items.flatMap((g) => g.paths ?? [g.path!]);
      const { inode: _inode, acl: _acl, ...first } = items[0];
      return {
        ...first, path: dir + "/**", paths: all.sort(),
        accesses: [...new Set(items.flatMap((g) => g.accesses))].slice(0, LIST_MAX),
        programs: [...new Set(items.flatMap((g) => g.programs ?? []))].sort().slice(0, LIST_MAX),
        ...(items.some((g) => g.secret) ? { secret: items.filter((g) => g.secret).map((g) => g.secret!).slice(0, 3).join("; ") } : {}),
        because: `${all.length} files under ${dir} are each denied to ${items[0].user}; an ACL entry (${items[0].perms}) on each of them, ` +
          `not on the directory, allows exactly those`,
        apply: items.flatMap((g) => g.apply), undo: items.flatMap((g) => g.undo),
        files: items.flatMap((g) => g.files ?? [{ path: g.path!, inode: g.inode!, acl: g.acl }]),
      };
    }));
  }
  return out;
}

const RANK = ["group", "search", "acl", "owner", "capability", "none"];
function byRank(a: Grant, b: Grant): number {
  const x = a.path ?? a.group ?? a.capability ?? "", y = b.path ?? b.group ?? b.capability ?? "";
  return RANK.indexOf(a.grant) - RANK.indexOf(b.grant) || (x < y ? -1 : x > y ? 1 : 0);
}

/**
 * What the run wrote under /tmp or /var/tmp and left there: files it wrote under a name of their own
 * (a temporary it removed or renamed is DIR/<tmp> in the profile) that are still on this host. A
 * systemd service with a private /tmp would lose them when it stops.
 */
export function tmpOutputs(items: Summary[], host: Pick<Host, "exists">): string[] {
  const out = items.filter((s) => s.kind === "file" && !s.probe && s.path !== undefined && /^\/(tmp|var\/tmp)\/./.test(s.path) &&
    globStart(s, s.path) < 0 && (s.okOps ?? []).some((o) => WRITES.has(o)) && host.exists(s.path));
  return [...new Set(out.map((s) => s.path!))].sort();
}
const WRITES = new Set(["write", "readwrite", "create", "rename", "link", "symlink", "mknod", "mkdir"]);

/** For each output of the job (accessNeeds): its directory, and whether the user may create in it already, by a grant of the plan, or not. */
export function jobOutputs(paths: string[], needs: Need[], verdicts: Verdict[], grants: Grant[]): NonNullable<PlanHeader["outputs"]> {
  return paths.map((path) => {
    const dir = parent(path) ?? "/";
    const i = needs.findIndex((n) => n.path === dir && n.mode & W && !n.owner);
    const granted = grants.some((g) => g.path === dir && g.apply.length && !g.rootEquivalent);
    return { path, dir, allowed: i < 0 || verdicts[i] === "ok" ? "already" : granted ? "granted" : "not granted" };
  });
}

/** The counts by kind of grant, for the header and the report. */
export function countGrants(grants: Grant[]): { [kind: string]: number } {
  const c: { [kind: string]: number } = {};
  for (const g of grants) c[g.grant] = (c[g.grant] ?? 0) + (g.paths?.length ?? 1);
  return c;
}

/** Where the glob the tools made in a summary's name begins (the length of its literal start), or -1:
 *  a name is literal, whatever its characters ("<pid>" or "**" in a file's own name included). */
function globStart(s: Summary, path: string): number {
  const first = s.pattern?.findIndex(isGlob) ?? -1;
  if (first < 0 || patternText(s.pattern!) !== path) return -1;
  return s.pattern!.slice(0, first).join("").length;
}
