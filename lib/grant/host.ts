// This host as trace-grant sees it: files as they are now (each path walked without following links
// the way it could be redirected), their ACLs (getfacl), group names, and the sysctl that decides who
// may bind low ports.

import { spawnSync } from "node:child_process";
import { closeSync, existsSync, lstatSync, openSync, readFileSync, readlinkSync, readSync, statfsSync, statSync, type Stats } from "node:fs";
import { decodeBytes, encodeBytes } from "../io/bytes.js";
import type { FileInfo, Host, Resolution } from "./grant.js";

// statfs magic numbers of file systems that hold no POSIX ACLs
const NO_ACL: { [magic: number]: string } = {
  0x9fa0: "proc", 0x62656572: "sysfs", 0x27e0eb: "cgroup", 0x63677270: "cgroup2", 0x73636673: "securityfs",
  0x64626720: "debugfs", 0x74726163: "tracefs", 0xcafe4a11: "bpffs", 0x62656570: "configfs", 0x6165676c: "pstorefs",
  0xde5e81e4: "efivarfs",
};

const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFLNK = 0o120000;
const MAX_LINKS = 40;                    // as the kernel (ELOOP)

/** An entry as lstat(2) gives it: the link itself when it is one. */
export interface Entry extends FileInfo { link: boolean }

/** Who other than root could make `name` (an entry of directory `dir`) name another file, or undefined. */
export function redirectableBy(dir: Entry, entry: Entry, dirPath: string, userName: (uid: number) => string): string | undefined {
  if (dir.uid !== 0) return `it is in ${dirPath}, owned by ${userName(dir.uid)}, who can replace it`;
  // with an extended ACL the group bits are the mask: clear, no named entry can write either
  const writers = dir.mode & 0o002 ? "every user" : dir.mode & 0o020 ? "group-class users (its group or an ACL entry)" : undefined;
  if (!writers) return undefined;
  if (dir.mode & 0o1000) {
    // sticky (/tmp): only the entry's owner (and root) may rename or delete it
    return entry.uid === 0 ? undefined : `it is owned by ${userName(entry.uid)} in ${dirPath} (sticky), who can replace it`;
  }
  return `it is in ${dirPath}, which ${writers} can write`;
}

/**
 * The file a path names, found without trusting anything but root: walked from / one entry at a time
 * with lstat. A link is followed only where no one but root could have made or changed it, every
 * entry on the way is one that no one but root could replace, and what is returned is the path with
 * no link left in it. Otherwise the walk is refused, with the reason.
 */
export function resolvePath(path: string, fs: { lstat(p: string): Entry | undefined; readlink(p: string): string },
  userName: (uid: number) => string): Resolution {
  const todo = path.split("/").reverse();
  let cur = "/";
  let st = fs.lstat("/");
  if (!st) return { gone: true };
  let links = 0;
  while (todo.length) {
    const c = todo.pop()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      // cur has no link in it, so its parent is its parent (and was walked on the way here)
      cur = cur === "/" ? "/" : cur.slice(0, Math.max(cur.lastIndexOf("/"), 1));
      st = fs.lstat(cur);
      if (!st) return { gone: true };
      continue;
    }
    if (!st.dir) return { gone: true };
    const next = cur === "/" ? "/" + c : cur + "/" + c;
    const e = fs.lstat(next);
    if (!e) return { gone: true };
    const who = redirectableBy(st, e, cur, userName);
    if (who) return { refused: `${next}${e.link ? " is a symbolic link" : ""}: ${who}` };
    if (e.link) {
      if (++links > MAX_LINKS) return { refused: `${path}: too many symbolic links` };
      const target = fs.readlink(next);
      todo.push(...target.split("/").reverse());
      if (target.startsWith("/")) { cur = "/"; st = fs.lstat("/"); if (!st) return { gone: true }; }
      continue;
    }
    cur = next;
    st = e;
  }
  return { path: cur, file: { dev: st.dev, ino: st.ino, uid: st.uid, gid: st.gid, mode: st.mode, dir: st.dir } };
}

function entryOf(s: Stats): Entry {
  const t = s.mode & S_IFMT;
  return { dev: s.dev, ino: s.ino, uid: s.uid, gid: s.gid, mode: s.mode & 0o7777, dir: t === S_IFDIR, link: t === S_IFLNK };
}

export function realHost(): Host {
  const groupNames = new Map<number, string>(), userNames = new Map<number, string>();
  // not cached: a file replaced while trace-grant runs is walked again as it is now
  // paths go to the kernel as their bytes (encodeBytes): a name that is not UTF-8 is still that file
  const lstat = (p: string) => {
    try { return entryOf(lstatSync(encodeBytes(p))); } catch { return undefined; }
  };
  const name = (db: "passwd" | "group", cache: Map<number, string>, id: number) => {
    if (!cache.has(id)) {
      const r = spawnSync("getent", [db, String(id)], { encoding: "utf8" });
      cache.set(id, r.status === 0 ? r.stdout.split(":")[0] : String(id));
    }
    return cache.get(id)!;
  };
  const userName = (uid: number) => name("passwd", userNames, uid);
  return {
    exists: (p) => existsSync(encodeBytes(p)),
    resolve: (p) => resolvePath(p, { lstat, readlink: (q) => decodeBytes(readlinkSync(encodeBytes(q), { encoding: "buffer" })) }, userName),
    stat(p) {
      const e = lstat(p);
      return e && { dev: e.dev, ino: e.ino, uid: e.uid, gid: e.gid, mode: e.mode, dir: e.dir };
    },
    bornSince(p, t) {
      // birth time from statx(2); 0 where the file system keeps none (then: not known to be made since)
      try { const b = statSync(encodeBytes(p)).birthtimeMs; return b > 0 && b >= t * 1000; } catch { return false; }
    },
    packagesOf(paths) {
      const out = new Map<string, { packages: string[]; conffile: boolean }>();
      // with /usr merged, dpkg may know a file by its old name (/bin/cat for /usr/bin/cat)
      const alias = (p: string) => (/^\/usr\/(s?bin|lib[^/]*)\//.test(p) ? p.slice(4) : undefined);
      const names = [...new Set(paths.flatMap((p) => [p, alias(p)].filter((x): x is string => !!x)))];
      const owners = new Map<string, string[]>();
      for (let i = 0; i < names.length; i += 200) {
        const r = spawnSync("dpkg-query", ["-S", "--", ...names.slice(i, i + 200)], { encoding: "utf8", maxBuffer: 1 << 26 });
        if (r.error) return out;                         // no dpkg: nothing known
        for (const l of r.stdout.split("\n")) {
          const m = /^([^:\s][^:]*): (\/.*)$/.exec(l);  // "pkg1, pkg2: /path" (diversions read "diversion by ...")
          if (m && !m[1].startsWith("diversion ")) owners.set(m[2], m[1].split(", ").map((x) => x.replace(/:[a-z0-9]+$/, "")));
        }
      }
      const pkgs = [...new Set([...owners.values()].flat())];
      const conf = new Set<string>();
      if (pkgs.length) {
        const r = spawnSync("dpkg-query", ["-W", "-f", "${Conffiles}\n", "--", ...pkgs], { encoding: "utf8", maxBuffer: 1 << 26 });
        for (const l of (r.stdout ?? "").split("\n")) { const m = /^ (\/\S+) [0-9a-f]+( obsolete)?$/.exec(l); if (m && !m[2]) conf.add(m[1]); }
      }
      for (const p of paths) {
        const k = owners.get(p) ?? owners.get(alias(p) ?? "");
        if (k) out.set(p, { packages: k, conffile: conf.has(p) });
      }
      return out;
    },
    onTmpfs(p) {
      try { return Number(statfsSync(encodeBytes(p)).type) === 0x01021994; } catch { return false; }
    },
    isScript(p) {
      let fd: number | undefined;
      try {
        if (!lstat(p) || !lstatSync(encodeBytes(p)).isFile()) return false;
        fd = openSync(encodeBytes(p), "r");
        const b = Buffer.alloc(2);
        return readSync(fd, b, 0, 2, 0) === 2 && b.toString("latin1") === "#!";
      } catch { return false; } finally { if (fd !== undefined) closeSync(fd); }
    },
    noAcl(p) {
      // the nearest directory that can be asked (root itself may not stat /proc/1/cwd)
      for (let q = p; ; q = q.slice(0, Math.max(q.lastIndexOf("/"), 1))) {
        try { return NO_ACL[Number(statfsSync(encodeBytes(q)).type)]; } catch { if (q === "/") return undefined; }
      }
    },
    acl(paths) {
      const out = new Map<string, string[]>();
      // paths without links (resolved), so getfacl reads the entry named and nothing it points to
      const present = paths.filter((p) => lstat(p) && !lstat(p)!.link);
      // a command line carries only UTF-8, so a name that is not goes on getfacl's standard input, one
      // a line ("-"); getfacl drops a CR at a line's end, so one that is not UTF-8 and holds a newline
      // or ends in a CR stays unknown (no grant planned)
      const notUtf8 = (p: string) => /[\udc80-\udcff]/.test(p);
      const batches: { part: string[]; stdin?: Buffer }[] = [];
      const byArgv = present.filter((p) => !notUtf8(p)), byStdin = present.filter((p) => notUtf8(p) && !p.includes("\n") && !p.endsWith("\r"));
      for (let i = 0; i < byArgv.length; i += 500) batches.push({ part: byArgv.slice(i, i + 500) });
      if (byStdin.length) batches.push({ part: byStdin, stdin: Buffer.concat(byStdin.map((p) => Buffer.concat([encodeBytes(p), Buffer.from("\n")]))) });
      for (const { part, stdin } of batches) {
        const r = spawnSync("getfacl", ["-n", "-E", "-P", "--absolute-names", ...(stdin ? ["-"] : ["--", ...part])],
          { encoding: "utf8", maxBuffer: 1 << 28, ...(stdin ? { input: stdin } : {}) });
        if (r.error) break;                              // no getfacl: no ACL grants can be planned
        // getfacl prints one block a file, in the order given, each ending with a blank line
        const blocks = r.stdout.split("\n\n").filter((b) => b.trim());
        if (blocks.length !== part.length) continue;     // a file vanished in between: leave these unknown
        blocks.forEach((b, k) => {
          out.set(part[k], b.split("\n").filter((l) => l && !l.startsWith("#") && !l.startsWith("default:")));
        });
      }
      return out;
    },
    groupName: (gid) => name("group", groupNames, gid),
    userName,
    unprivilegedPortStart() {
      try { return Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8").trim()); } catch { return 1024; }
    },
  };
}

/** Every account's home directory (getent passwd): a grant in another user's home exposes what is theirs. */
export function accountHomes(): { user: string; home: string }[] {
  const r = spawnSync("getent", ["passwd"], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) return [];
  return r.stdout.split("\n").map((l) => l.split(":")).filter((f) => f.length >= 7 && f[5].startsWith("/"))
    .map((f) => ({ user: f[0], home: f[5].replace(/\/+$/, "") || "/" }))
    // system accounts' "homes" (/nonexistent, /var/www, /var/cache/man...) hold no one's own files
    .filter((h) => /^\/(home|root)(\/|$)/.test(h.home));
}
