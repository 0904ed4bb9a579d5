// Asking the kernel whether a user may access a path. A helper process runs as the user, with the
// user's groups (setpriv), and calls access(2); the kernel applies modes, ACLs, groups and mount options
// as they are on this host. Each path is checked on its own: the caller opens it with O_PATH and hands
// the helper the descriptor, and the helper checks "/proc/self/fd/N", a link the kernel follows without
// walking (or checking) the path's ancestors. Ancestors are checked as paths of their own.

import { spawn, spawnSync } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { UserError } from "./cli.js";

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
 * A question for the kernel: access(2) with `mode` (R, W, X) by default. Entries under /proc guard some
 * files past their mode bits (another process's maps, its exe link), so for those the helper does the
 * thing itself, read-only: opens the path for reading, or reads the link.
 */
export interface Check { path: string; mode: number; how?: "open" | "readlink" }

const O_PATH = 0o10000000;
const BATCH = 400;          // descriptors handed to one helper

// The helper: for each [descriptor, mode, how, path], access(2) on the descriptor's magic link, or the
// read-only open or readlink of the path.
const HELPER = `const fs = require("node:fs");
const out = [];
for (const [fd, mode, how, path] of JSON.parse(process.argv[1])) {
  try {
    if (how === "open") fs.closeSync(fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
    else if (how === "readlink") fs.readlinkSync(path);
    else fs.accessSync("/proc/self/fd/" + fd, mode);
    out.push("ok");
  } catch (e) { out.push(e.code || String(e)); }
}
process.stdout.write(JSON.stringify(out));`;

/**
 * Asks the kernel, as `user` (plus `extraGroups`), about every check. Needs root (to become the user)
 * unless the user is the caller.
 */
export async function checkAccess(user: UserInfo, checks: Check[], extraGroups: number[] = []): Promise<Verdict[]> {
  const verdicts: Verdict[] = new Array(checks.length).fill("gone");
  const self = process.getuid?.() === user.uid && !extraGroups.length;
  if (!self && process.getuid?.() !== 0) {
    throw new UserError(`checking access as ${user.name} needs root (run trace-grant as root, or as ${user.name} itself)`);
  }
  for (let i = 0; i < checks.length; i += BATCH) {
    const part = checks.slice(i, i + BATCH);
    const failed = new Map<number, string>();
    const fds: (number | undefined)[] = part.map((c, k) => {
      if (c.how) return -1;                     // done on the path itself: no descriptor needed
      try { return openSync(c.path, O_PATH); } catch (e) {
        // not there is "gone"; anything else (a caller that is not root, refused on the way) is the answer
        const code = (e as NodeJS.ErrnoException).code ?? "EIO";
        if (code !== "ENOENT" && code !== "ENOTDIR") failed.set(k, code);
        return undefined;
      }
    });
    failed.forEach((code, k) => { verdicts[i + k] = code; });
    try {
      const passed = fds.filter((f): f is number => f !== undefined && f >= 0);
      const jobs: [number, number, string, string][] = [];
      const where: number[] = [];
      fds.forEach((f, k) => {
        if (f !== undefined) { jobs.push([f < 0 ? -1 : 3 + passed.indexOf(f), part[k].mode, part[k].how ?? "access", part[k].how ? part[k].path : ""]); where.push(k); }
      });
      if (!jobs.length) continue;
      const res = await runHelper(user, extraGroups, passed, jobs, self);
      res.forEach((v, j) => { verdicts[i + where[j]] = v; });
    } finally {
      for (const f of fds) if (f !== undefined && f >= 0) closeSync(f);
    }
  }
  return verdicts;
}

function runHelper(user: UserInfo, extraGroups: number[], fds: number[], jobs: [number, number, string, string][], self: boolean): Promise<Verdict[]> {
  const node = process.execPath;
  const groups = [...new Set([...user.groups.map((g) => g.gid), ...extraGroups])];
  const argv = self ? [node, "-e", HELPER, JSON.stringify(jobs)]
    : ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, `--groups=${groups.join(",")}`, "--inh-caps=-all", "--no-new-privs",
      "--", node, "-e", HELPER, JSON.stringify(jobs)];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe", ...fds], env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C" } });
    let out = "", err = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => { out += d; });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => { err += d; });
    child.on("error", (e) => reject(new UserError(`cannot run ${argv[0]}: ${e.message} (setpriv comes with util-linux)`)));
    child.on("close", (code) => {
      let res: unknown;
      try { res = JSON.parse(out); } catch { /* reported below */ }
      if (code !== 0 || !Array.isArray(res) || res.length !== jobs.length) {
        const why = err.trim().split("\n").pop() || `exit status ${code}`;
        reject(new UserError(`the access check running as ${user.name} failed: ${why}` +
          (/EACCES|Permission denied/.test(why) ? ` (${user.name} must be able to run ${node})` : "")));
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
