// Asking the kernel whether a user may access a path. A helper process asks access(2) as the user,
// with the user's groups, so that modes, ACLs, groups and mount options count as they are on this host.
// Each path is checked on its own: the helper, still root, opens it with O_PATH (never following a link,
// and only if it is still the file planned on), then becomes the user for good and checks
// "/proc/self/fd/N", a link the kernel follows without walking (or checking) the path's ancestors.
// Ancestors are checked as paths of their own. Becoming the user makes the helper non-dumpable
// (fs.suid_dumpable), so the user can neither reopen those descriptors through /proc nor ptrace it.

import { spawn, spawnSync } from "node:child_process";
import { UserError } from "../errors.js";
import { encodeBytes } from "../io/bytes.js";

export const R = 4, W = 2, X = 1;

export interface UserInfo {
  name: string;
  uid: number;
  gid: number;
  groups: { gid: number; name: string }[];   // the user's groups as the system gives them (initgroups)
}

/** The user as `id` says: uid, primary group, and every group, by number and name. */
export function lookupUser(name: string): UserInfo {
  const id = (args: string[]) => {
    const r = spawnSync("id", [...args, "--", name], { encoding: "utf8" });
    if (r.error) throw new UserError(`cannot run id: ${r.error.message}`);
    if (r.status !== 0) throw new UserError(`${name}: no such user on this host`);
    return r.stdout.trim().split(/\s+/);
  };
  const uid = Number(id(["-u"])[0]), gid = Number(id(["-g"])[0]);
  const gids = id(["-G"]).map(Number), names = id(["-Gn"]);
  return { name, uid, gid, groups: gids.map((g, i) => ({ gid: g, name: names[i] ?? String(g) })) };
}

/** The home directory of a user by name, as the password database says. */
export function homeOf(name: string): string | undefined {
  const r = spawnSync("getent", ["passwd", name], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim().split(":")[5] || undefined : undefined;
}

/** What the kernel said: allowed, or the errno (EACCES, EPERM, EROFS, ETXTBSY…); "gone" when the path does not exist now. */
export type Verdict = "ok" | "gone" | string;

/**
 * A question for the kernel: access(2) with `mode` (R, W, X) on the file itself by default, which must
 * still be the file `inode` ("DEV:INO") when given. `how: "name"` asks about the path as the user names
 * it (its ancestors and links walked as the user): for paths the user could redirect, which root never
 * opens. Entries under /proc guard some files past their mode bits (another process's maps, its exe
 * link), so for those the helper does the thing itself, read-only: opens the path for reading, or reads
 * the link.
 */
export interface Check { path: string; mode: number; how?: "open" | "readlink" | "name"; inode?: string }

const BATCH = 400;          // descriptors one helper holds

// The helper. Its input (stdin, so that the paths are not in a command line every user can read):
// [uid, gid, groups, jobs], uid null for the caller itself; each job [path, mode, how, inode], the
// path in hex (its bytes, which need not be UTF-8). While root it opens the files to check on their
// own (O_PATH, no link followed, the inode as planned);
// then it takes the user's groups and ids, all of them, for good: from root that also drops every
// capability and makes the process non-dumpable (the kernel sets fs.suid_dumpable when the effective
// ids change), which it checks before it asks anything.
const HELPER = `"use strict";
const fs = require("node:fs");
const [uid, gid, groups, jobs] = JSON.parse(fs.readFileSync(0, "utf8"));
const O_PATH = 0o10000000;
// each path comes as the hex of its bytes, and goes to the kernel as those bytes
for (const j of jobs) j[0] = Buffer.from(j[0], "hex");
const held = jobs.map(([path, mode, how, inode]) => {
  if (how) return undefined;
  try {
    const fd = fs.openSync(path, O_PATH | fs.constants.O_NOFOLLOW | fs.constants.O_CLOEXEC);
    const s = fs.fstatSync(fd);
    if (s.isSymbolicLink() || (inode && s.dev + ":" + s.ino !== inode)) { fs.closeSync(fd); return "ECHANGED"; }
    return fd;
  } catch (e) { return e.code === "ENOENT" || e.code === "ENOTDIR" ? "gone" : e.code || String(e); }
});
if (uid !== null) {
  process.setgroups(groups);
  process.setgid(gid);
  process.setuid(uid);
  const dumpable = fs.readFileSync("/proc/sys/fs/suid_dumpable", "utf8").trim() === "1" || fs.statSync("/proc/self/fd").uid !== 0;
  if (process.getuid() !== uid || process.geteuid() !== uid || process.getegid() !== gid || dumpable) {
    process.stderr.write(dumpable ? "the helper would be open to the user it checks (fs.suid_dumpable is 1)" : "could not become the user");
    process.exit(3);
  }
}
const out = jobs.map(([path, mode, how], k) => {
  const fd = held[k];
  if (typeof fd === "string") return fd;
  try {
    if (how === "open") fs.closeSync(fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY));
    else if (how === "readlink") fs.readlinkSync(path);
    else fs.accessSync(how === "name" ? path : "/proc/self/fd/" + fd, mode);
    return "ok";
  } catch (e) { return e.code === "ENOENT" && how === "name" ? "gone" : e.code || String(e); }
});
process.stdout.write(JSON.stringify(out));`;

/**
 * Asks the kernel, as `user` (plus `extraGroups`), about every check. Needs root (to become the user)
 * unless the user is the caller.
 */
export async function checkAccess(user: UserInfo, checks: Check[], extraGroups: number[] = []): Promise<Verdict[]> {
  const verdicts: Verdict[] = [];
  const self = process.getuid?.() === user.uid && !extraGroups.length;
  if (!self && process.getuid?.() !== 0) {
    throw new UserError(`checking access as ${user.name} needs root (run trace-grant as root, or as ${user.name} itself)`);
  }
  const groups = [...new Set([...user.groups.map((g) => g.gid), ...extraGroups])];
  for (let i = 0; i < checks.length; i += BATCH) {
    const jobs = checks.slice(i, i + BATCH).map((c) => [encodeBytes(c.path).toString("hex"), c.mode, c.how ?? null, c.inode ?? null]);
    verdicts.push(...await runHelper(user, self ? [null, 0, [], jobs] : [user.uid, user.gid, groups, jobs]));
  }
  return verdicts;
}

function runHelper(user: UserInfo, input: unknown[]): Promise<Verdict[]> {
  const node = process.execPath;
  const jobs = input[3] as unknown[];
  return new Promise((resolve, reject) => {
    const child = spawn(node, ["-e", HELPER], { stdio: ["pipe", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C" } });
    let out = "", err = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => { out += d; });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => { err += d; });
    child.stdin!.on("error", () => { /* the helper died: reported on close */ });
    child.stdin!.end(JSON.stringify(input));
    child.on("error", (e) => reject(new UserError(`cannot run ${node}: ${e.message}`)));
    child.on("close", (code, signal) => {
      let res: unknown;
      try { res = JSON.parse(out); } catch { /* reported below */ }
      if (code !== 0 || !Array.isArray(res) || res.length !== jobs.length) {
        const why = err.trim().split("\n").pop() || (signal ? `killed by ${signal}` : `exit status ${code}`);
        reject(new UserError(`the access check running as ${user.name} failed: ${why}`));
        return;
      }
      resolve(res as Verdict[]);
    });
  });
}

/** "r", "rw", "x", "wx"… for a mode. */
export function modeText(mode: number): string {
  return (mode & R ? "r" : "") + (mode & W ? "w" : "") + (mode & X ? "x" : "");
}
