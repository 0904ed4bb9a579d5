// This host as trace-grant sees it: files as they are now, their ACLs (getfacl), group names, and the
// sysctl that decides who may bind low ports.

import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, readSync, statfsSync, statSync } from "node:fs";
import type { Host } from "./grant.js";

// statfs magic numbers of file systems that hold no POSIX ACLs
const NO_ACL: { [magic: number]: string } = {
  0x9fa0: "proc", 0x62656572: "sysfs", 0x27e0eb: "cgroup", 0x63677270: "cgroup2", 0x73636673: "securityfs",
  0x64626720: "debugfs", 0x74726163: "tracefs", 0xcafe4a11: "bpffs", 0x62656570: "configfs", 0x6165676c: "pstorefs",
  0xde5e81e4: "efivarfs",
};

export function realHost(): Host {
  const groupNames = new Map<number, string>();
  return {
    exists: (p) => existsSync(p),
    stat(p) {
      try {
        const s = statSync(p);
        return { uid: s.uid, gid: s.gid, mode: s.mode & 0o7777, dir: s.isDirectory() };
      } catch { return undefined; }
    },
    isScript(p) {
      let fd: number | undefined;
      try {
        if (!statSync(p).isFile()) return false;
        fd = openSync(p, "r");
        const b = Buffer.alloc(2);
        return readSync(fd, b, 0, 2, 0) === 2 && b.toString("latin1") === "#!";
      } catch { return false; } finally { if (fd !== undefined) closeSync(fd); }
    },
    noAcl(p) {
      // the nearest directory that can be asked (root itself may not stat /proc/1/cwd)
      for (let q = p; ; q = q.slice(0, Math.max(q.lastIndexOf("/"), 1))) {
        try { return NO_ACL[Number(statfsSync(q).type)]; } catch { if (q === "/") return undefined; }
      }
    },
    aclEntries(paths, uid) {
      const out = new Map<string, { entry?: string; extended: boolean }>();
      const present = paths.filter((p) => existsSync(p));
      for (let i = 0; i < present.length; i += 500) {
        const part = present.slice(i, i + 500);
        const r = spawnSync("getfacl", ["-n", "--absolute-names", "--", ...part], { encoding: "utf8", maxBuffer: 1 << 28 });
        if (r.error) break;                              // no getfacl: treat every file as without an ACL
        // getfacl prints one block a file, in the order given, each ending with a blank line
        const blocks = r.stdout.split("\n\n").filter((b) => b.trim());
        if (blocks.length !== part.length) continue;     // a file vanished in between: leave these unknown
        blocks.forEach((b, k) => {
          const lines = b.split("\n").filter((l) => !l.startsWith("#"));
          const mine = lines.find((l) => l.startsWith(`user:${uid}:`));
          out.set(part[k], { entry: mine?.split(":")[2]?.slice(0, 3), extended: lines.length > 3 });
        });
      }
      return out;
    },
    groupName(gid) {
      if (!groupNames.has(gid)) {
        const r = spawnSync("getent", ["group", String(gid)], { encoding: "utf8" });
        groupNames.set(gid, r.status === 0 ? r.stdout.split(":")[0] : String(gid));
      }
      return groupNames.get(gid)!;
    },
    unprivilegedPortStart() {
      try { return Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8").trim()); } catch { return 1024; }
    },
  };
}
