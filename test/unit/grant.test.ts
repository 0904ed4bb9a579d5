// trace-grant's planning on a made-up host: which checks an access becomes, and which grant a denial gets.
import { describe, expect, it } from "vitest";
import { R, W, X, type UserInfo } from "../../lib/grant/access.js";
import { accessNeeds, aclGrant, planGrants, refusals, resolveNeeds, type Host, type PlanInput } from "../../lib/grant/grant.js";
import { resolvePath, type Entry } from "../../lib/grant/host.js";
import { shPlan } from "../../lib/grant/format.js";
import type { Summary } from "../../lib/profile/summary.js";

const file = (path: string, ops: string[], extra: Partial<Summary> = {}): Summary => ({
  type: "summary", kind: "file", path, ops, okOps: ops, syscalls: ["openat"], calls: 1, ok: 1, errors: {}, programs: ["/usr/bin/tool"], ...extra,
});
const user: UserInfo = { name: "u", uid: 1000, gid: 1000, groups: [{ gid: 1000, name: "u" }] };

type Fake = { uid?: number; gid?: number; mode?: number; dir?: boolean; script?: boolean; acl?: string; fs?: string; link?: string };
/** A made-up file tree: directories not listed are root's, 0755; `acl` is the user's present entry ("r--"). */
function host(files: { [p: string]: Fake }): Host {
  const ino = new Map<string, number>();
  const lstat = (p: string): Entry | undefined => {
    const f = files[p];
    const implied = p === "/" || Object.keys(files).some((q) => q.startsWith(p === "/" ? "/" : p + "/"));
    if (!f && !implied) return undefined;
    if (!ino.has(p)) ino.set(p, ino.size + 100);
    const dir = f ? !!f.dir || (!f.link && implied) : true;
    return { dev: 1, ino: ino.get(p)!, uid: f?.uid ?? 0, gid: f?.gid ?? 0, mode: f?.mode ?? (dir ? 0o755 : 0o644), dir, link: !!f?.link };
  };
  const names = (uid: number) => (uid === 1000 ? "u" : String(uid));
  return {
    exists: (p) => p in files,
    resolve: (p) => resolvePath(p, { lstat, readlink: (q) => files[q].link! }, names),
    stat: (p) => { const e = lstat(p); return e && { dev: e.dev, ino: e.ino, uid: e.uid, gid: e.gid, mode: e.mode, dir: e.dir }; },
    isScript: (p) => !!files[p]?.script,
    noAcl: (p) => files[p]?.fs ?? (p.startsWith("/proc/") ? "proc" : undefined),
    acl: (paths) => new Map(paths.map((p) => {
      const m = files[p]?.mode ?? 0o644, t = (b: number) => (b & 4 ? "r" : "-") + (b & 2 ? "w" : "-") + (b & 1 ? "x" : "-");
      const named = files[p]?.acl ? [`user:1000:${files[p].acl}`] : [];
      return [p, [`user::${t(m >> 6)}`, ...named, `group::${t((m >> 3) & 7)}`, ...(named.length ? [`mask::${t((m >> 3) & 7 | 4)}`] : []), `other::${t(m & 7)}`]];
    })),
    groupName: (gid) => ({ 4: "adm", 42: "shadow" } as { [g: number]: string })[gid] ?? String(gid),
    userName: names,
    unprivilegedPortStart: () => 1024,
  };
}
const checks = (items: Summary[], h: Host) => accessNeeds(items, h).needs.map((n) => `${n.path} ${n.mode}${n.how ? " " + n.how : ""}${n.owner ? " owner" : ""}`).sort();

describe("accessNeeds: the kernel checks an access stands for", () => {
  const h = host({ "/etc/app.conf": {}, "/var/lib/app/state": {}, "/usr/bin/tool.sh": { script: true } });
  it("a read: the file, and search on every ancestor", () => {
    expect(checks([file("/etc/app.conf", ["read"])], h)).toEqual(["/ 1", "/etc 1", `/etc/app.conf ${R}`]);
  });
  it("a file the profile keys on what the kernel opened is asked by the names it was called by, not by that file", () => {
    expect(checks([file("/etc/shadow", ["read"], { names: ["/home/u/link"] })], h)).toEqual(["/ 1", "/home 1", "/home/u 1", `/home/u/link ${R}`]);
  });
  it("creating, deleting, renaming: write and search on the parent; an existing file written in place: the file", () => {
    expect(checks([file("/var/lib/app/new", ["create"])], h)).toContain(`/var/lib/app ${W | X}`);
    expect(checks([file("/var/lib/app/state", ["create"])], h)).toContain(`/var/lib/app/state ${W}`);
    expect(checks([file("/var/lib/app/state", ["create"], { syscalls: ["rename"] })], h)).toContain(`/var/lib/app ${W | X}`);
    expect(checks([file("/var/lib/app/state", ["delete"])], h)).toContain(`/var/lib/app ${W | X}`);
  });
  it("a script run needs read too; stat needs only the ancestors; chmod asks for ownership", () => {
    expect(checks([file("/usr/bin/tool.sh", ["exec"])], h)).toContain(`/usr/bin/tool.sh ${R | X}`);
    expect(checks([file("/etc/app.conf", ["stat"])], h)).toEqual(["/ 1", "/etc 1"]);
    expect(checks([file("/etc/app.conf", ["chmod"])], h)).toContain("/etc/app.conf 0 owner");
  });
  it("only what worked or was refused: an operation that failed otherwise asks nothing", () => {
    expect(checks([file("/etc/app.conf", ["read", "write"], { okOps: ["read"], errors: { EROFS: 1 } })], h)).toContain(`/etc/app.conf ${R}`);
    expect(checks([file("/etc/app.conf", ["write"], { okOps: [], ok: 0, errors: { EACCES: 1 } })], h)).toContain(`/etc/app.conf ${W}`);
  });
  it("another process's /proc entry is asked on PID 1, by doing it; the traced user's home searches are left out", () => {
    expect(checks([file("/proc/<pid>/exe", ["readlink"])], h)).toContain(`/proc/1/exe ${R} readlink`);
    expect(checks([file("/proc/<pid>/maps", ["read"])], h)).toContain(`/proc/1/maps ${R} open`);
    const r = accessNeeds([file("/root/.curlrc", ["stat"], { probe: true, ok: 0, okOps: [], errors: { ENOENT: 1 } })], h, ["/root"]);
    expect(r.needs).toEqual([]);
    expect(r.unchecked[0].path).toBe("/root/.curlrc");
  });
});

describe("planGrants: the narrowest grant for each denial", () => {
  // `groups`: gid → the paths the kernel would allow with that group added
  const plan = (items: Summary[], h: Host, denied: string[], opts: { groups?: Map<number, string[]>; current?: Map<string, number>; collapse?: number; extra?: Partial<PlanInput> } = {}) => {
    const needs = resolveNeeds(accessNeeds(items, h).needs, h);
    const verdicts = needs.map((n) => (denied.includes(n.path) ? "EACCES" : "ok"));
    const groupFixes = new Map([...(opts.groups ?? [])].map(([gid, ps]) => [gid, new Set(needs.flatMap((n, i) => (ps.includes(n.path) ? [i] : [])))]));
    return planGrants({ user, needs, verdicts, groupFixes, current: opts.current, items, host: h, collapse: opts.collapse, ...opts.extra });
  };
  it("a closed directory gets a search bit, a file an ACL entry that keeps what the user may do now", () => {
    const h = host({ "/srv/data": { dir: true }, "/srv/data/x": {} });
    const g = plan([file("/srv/data/x", ["read", "write"], { okOps: ["read", "write"] })], h, ["/srv/data", "/srv/data/x"], { current: new Map([["/srv/data/x", R]]) });
    expect(g.map((x) => [x.grant, x.path, x.perms])).toEqual([["search", "/srv/data", "x"], ["acl", "/srv/data/x", "rw"]]);
    expect(g[1].because).toMatch(/denied writing \/srv\/data\/x/);
    expect(g[1].acl).toEqual({ before: "user::rw-,group::r--,other::r--", after: "user::rw-,user:1000:rw-,group::r--,mask::rw-,other::r--" });
    expect(g[1].apply).toEqual([`setfacl -n --set ${g[1].acl!.after} -- /srv/data/x`]);
    expect(g[1].undo).toEqual([`setfacl -n --set ${g[1].acl!.before} -- /srv/data/x`]);
    expect(g[1].inode).toMatch(/^1:\d+$/);
  });
  it("an ACL entry the user already has is widened, and undo puts it back", () => {
    const h = host({ "/etc/app.conf": { acl: "r--" } });
    const [g] = plan([file("/etc/app.conf", ["write"])], h, ["/etc/app.conf"]);
    expect([g.perms, g.acl]).toEqual(["rw", { before: "user::rw-,user:1000:r--,group::r--,mask::r--,other::r--", after: "user::rw-,user:1000:rw-,group::r--,mask::rw-,other::r--" }]);
  });
  it("a safe group that lifts two denials is one grant; a dangerous one is never offered", () => {
    const h = host({ "/var/log/a": { gid: 4 }, "/var/log/b": { gid: 4 } });
    const items = [file("/var/log/a", ["read"]), file("/var/log/b", ["read"])];
    const g = plan(items, h, ["/var/log/a", "/var/log/b"], { groups: new Map([[4, ["/var/log/a", "/var/log/b"]]]) });
    expect(g.map((x) => [x.grant, x.group ?? x.path])).toEqual([["group", "adm"]]);
    expect(g[0].apply[0]).toContain("usermod -a -G adm u");
    expect([g[0].uid, g[0].gid]).toEqual([1000, 4]);                // the numbers planned on: the script acts only while the names have them
    const s = host({ "/etc/shadow": { gid: 42 }, "/etc/gshadow": { gid: 42 } });
    const shadow = plan([file("/etc/shadow", ["read"]), file("/etc/gshadow", ["read"])], s, ["/etc/shadow", "/etc/gshadow"], { groups: new Map([[42, ["/etc/shadow", "/etc/gshadow"]]]) });
    expect(shadow.map((x) => x.grant)).toEqual(["acl", "acl"]);
  });
  it("a grant on a secret says so: the sensitive list (replaceable), another user's home, CAP_DAC_READ_SEARCH; the user's own home is not", () => {
    const h = host({ "/etc/shadow": {}, "/home/ann/notes": {}, "/home/u/x": {}, "/srv/app.conf": {}, "/proc/sys/kernel/x": { fs: "proc" } });
    const items = ["/etc/shadow", "/home/ann/notes", "/home/u/x", "/srv/app.conf", "/proc/sys/kernel/x"].map((p) => file(p, ["read"]));
    const homes = [{ user: "ann", home: "/home/ann" }, { user: "u", home: "/home/u" }];
    const denied = ["/etc/shadow", "/home/ann/notes", "/home/u/x", "/srv/app.conf", "/proc/sys/kernel/x"];
    const brief = (gs: ReturnType<typeof plan>) => gs.filter((g) => g.grant !== "search").map((g) => [g.path ?? g.capability, g.secret ?? null]);
    expect(brief(plan(items, h, denied, { extra: { homes } }))).toEqual([
      ["/etc/shadow", "/etc/shadow is on the list of sensitive files"],
      ["/home/ann/notes", "/home/ann/notes is in the home of ann"],
      ["/home/u/x", null],
      ["/srv/app.conf", null],
      ["/proc/sys/kernel/x", "CAP_DAC_READ_SEARCH reads every file on the host, every secret among them"],
    ]);
    // the list replaced (as trace-summarize --sensitive): only what it names
    expect(brief(plan(items, h, denied, { extra: { homes, sensitive: ["/srv/*.conf"] } })).map(([p, s]) => [p, s !== null])).toEqual([
      ["/etc/shadow", false], ["/home/ann/notes", true], ["/home/u/x", false], ["/srv/app.conf", true], ["/proc/sys/kernel/x", true],
    ]);
  });
  it("where ACLs cannot be set: the blunt capability to read, nothing to write; other processes' /proc: none", () => {
    const h = host({ "/sys/kernel/x": { fs: "sysfs" } });
    expect(plan([file("/sys/kernel/x", ["read"])], h, ["/sys/kernel/x"]).map((x) => [x.grant, x.capability, x.blunt])).toEqual([["capability", "CAP_DAC_READ_SEARCH", true]]);
    expect(plan([file("/sys/kernel/x", ["write"])], h, ["/sys/kernel/x"]).map((x) => [x.grant, x.capability, x.rootEquivalent])).toEqual([["none", "CAP_DAC_OVERRIDE", true]]);
    expect(plan([file("/proc/<pid>/environ", ["read"])], h, ["/proc/1/environ"]).map((x) => [x.grant, x.path, x.capability])).toEqual([["none", "/proc/<pid>/environ", "CAP_SYS_PTRACE"]]);
  });
  it("privileged operations: a low port by capability (above the sysctl, nothing), mount by no grant", () => {
    const priv = (op: string, capability: string, evidence: string): Summary => ({ type: "summary", kind: "priv", op, capability, ops: [op], okOps: [op], syscalls: [op], calls: 1, ok: 1, errors: {}, programs: [], evidence: [evidence] });
    const bind = (port: number): Summary => ({ type: "summary", kind: "net", role: "local", addr: { family: "inet", ip: "0.0.0.0", port }, ops: ["bind"], okOps: ["bind"], syscalls: ["bind"], calls: 1, ok: 1, errors: {}, programs: [] });
    const h = host({});
    expect(plan([priv("bind", "CAP_NET_BIND_SERVICE", "bind 0.0.0.0:80 (ok)"), bind(80)], h, []).map((x) => [x.grant, x.capability])).toEqual([["capability", "CAP_NET_BIND_SERVICE"]]);
    expect(plan([priv("bind", "CAP_NET_BIND_SERVICE", "bind 0.0.0.0:80 (ok)"), bind(80)], { ...h, unprivilegedPortStart: () => 0 }, [])).toEqual([]);
    const [m] = plan([priv("mount", "CAP_SYS_ADMIN", "mount /mnt (ok)")], h, []);
    expect([m.grant, m.rootEquivalent, m.accesses]).toEqual(["none", true, ["mount /mnt"]]);
  });
  it("collapse folds many ACLs under a directory into one DIR/** grant that still grants each file alone", () => {
    const files: { [p: string]: object } = {};
    const items = Array.from({ length: 12 }, (_, i) => `/etc/conf.d/f${String(i).padStart(2, "0")}`).map((p) => { files[p] = {}; return file(p, ["read"]); });
    const g = plan(items, host(files), Object.keys(files), { collapse: 10 });
    expect(g.map((x) => [x.grant, x.path, x.paths?.length])).toEqual([["acl", "/etc/conf.d/**", 12]]);
    expect(g[0].apply).toHaveLength(12);
    expect(g[0].apply[0]).toBe("setfacl -n --set user::rw-,user:1000:r--,group::r--,mask::r--,other::r-- -- /etc/conf.d/f00");
    expect(g[0].files!.map((f) => f.path)).toEqual(g[0].paths);
    expect(plan(items, host(files), Object.keys(files), { collapse: 12 })).toHaveLength(12);
  });
});

describe("resolvePath: the file a path names, walked without trusting anyone but root", () => {
  const walk = (p: string, files: { [p: string]: Fake }) => host(files).resolve(p);
  it("a link of root's in a directory of root's is followed to a path with no link in it", () => {
    const files = { "/bin": { link: "usr/bin" }, "/usr/bin/cat": {}, "/etc/alt/x": { link: "../../usr/bin/cat" } };
    expect(walk("/bin/cat", files)).toMatchObject({ path: "/usr/bin/cat" });
    expect(walk("/etc/alt/x", files)).toMatchObject({ path: "/usr/bin/cat" });
    expect(walk("/etc/./alt/../alt/x", files)).toMatchObject({ path: "/usr/bin/cat" });
    expect(walk("/nowhere/x", files)).toEqual({ gone: true });
  });
  it("refused: a link the user made, anything in the user's directory, a group- or world-writable one", () => {
    const files: { [p: string]: Fake } = {
      "/home/u": { dir: true, uid: 1000 }, "/home/u/.cache/app/settings.conf": { link: "/etc/shadow" }, "/etc/shadow": { mode: 0o640 },
      "/srv/drop": { dir: true, mode: 0o775, gid: 50 }, "/srv/drop/report.txt": {}, "/srv/open": { dir: true, mode: 0o777 }, "/srv/open/f": {},
      "/srv/root-link": { link: "/home/u/x" }, "/home/u/x": {},
    };
    expect(walk("/home/u/.cache/app/settings.conf", files)).toEqual({ refused: "/home/u/.cache: it is in /home/u, owned by u, who can replace it" });
    expect(walk("/srv/drop/report.txt", files)).toEqual({ refused: "/srv/drop/report.txt: it is in /srv/drop, which group-class users (its group or an ACL entry) can write" });
    expect(walk("/srv/open/f", files)).toEqual({ refused: "/srv/open/f: it is in /srv/open, which every user can write" });
    // root's link, but it leads into the user's directory: the walk goes on there, and is refused there
    expect(walk("/srv/root-link", files)).toEqual({ refused: "/home/u/x: it is in /home/u, owned by u, who can replace it" });
  });
  it("sticky /tmp: root's file there stands; the user's file (or link) does not", () => {
    const files: { [p: string]: Fake } = { "/tmp": { dir: true, mode: 0o1777 }, "/tmp/root-state": {}, "/tmp/users": { uid: 1000 }, "/tmp/l": { uid: 1000, link: "/etc/shadow" }, "/etc/shadow": {} };
    expect(walk("/tmp/root-state", files)).toMatchObject({ path: "/tmp/root-state" });
    expect(walk("/tmp/users", files)).toEqual({ refused: "/tmp/users: it is owned by u in /tmp (sticky), who can replace it" });
    expect(walk("/tmp/l", files)).toEqual({ refused: "/tmp/l is a symbolic link: it is owned by u in /tmp (sticky), who can replace it" });
  });
  it("a loop of links is refused, not walked for ever", () => {
    expect(walk("/a/x", { "/a": { link: "/b" }, "/b": { link: "/a" } })).toEqual({ refused: "/a/x: too many symbolic links" });
  });
});

describe("planning on what the kernel grants on", () => {
  it("a read through the user's link to /etc/shadow is refused, never granted; the search of the user's own directories is the user's", () => {
    const h = host({ "/home/u": { dir: true, uid: 1000, mode: 0o700 }, "/home/u/settings.conf": { link: "/etc/shadow" }, "/etc/shadow": { mode: 0o640 } });
    const needs = resolveNeeds(accessNeeds([file("/home/u/settings.conf", ["read"])], h).needs, h);
    const conf = needs.find((n) => n.path === "/home/u/settings.conf")!;
    expect(conf.refused).toMatch(/owned by u/);
    const verdicts = needs.map((n) => (n === conf ? "EACCES" : "ok"));
    expect(planGrants({ user, needs, verdicts, groupFixes: new Map(), items: [], host: h })).toEqual([]);
    expect(refusals(needs, verdicts, h, 1000)).toEqual([{ path: "/home/u/settings.conf", refused: true,
      why: "refused, not granted: /home/u/settings.conf is a symbolic link: it is in /home/u, owned by u, who can replace it (for read /home/u/settings.conf)" }]);
  });
  it("a chmod in a directory the user owns is refused; one in root's directory is an ownership grant with chown -h by number", () => {
    const h = host({ "/srv/drop": { dir: true, uid: 1000 }, "/srv/drop/report.txt": {}, "/srv/keep/report.txt": { mode: 0o4755 } });
    const items = [file("/srv/drop/report.txt", ["chmod"]), file("/srv/keep/report.txt", ["chmod"])];
    const needs = resolveNeeds(accessNeeds(items, h).needs, h);
    const g = planGrants({ user, needs, verdicts: needs.map(() => "ok"), groupFixes: new Map(), items, host: h });
    expect(g.map((x) => [x.grant, x.path, x.apply, x.undo])).toEqual([["owner", "/srv/keep/report.txt", ["chown -h 1000 -- /srv/keep/report.txt"],
      ["chown -h 0 -- /srv/keep/report.txt", "chmod 4755 -- /srv/keep/report.txt"]]]);
    expect(refusals(needs, needs.map(() => "ok"), h, 1000).map((r) => r.path)).toEqual(["/srv/drop/report.txt"]);
  });
  it("a job creating /etc/job.state: write on /etc is root in all but name, flagged, with the narrower way, and not applied", () => {
    const h = host({ "/etc": { dir: true }, "/var/lib/app": { dir: true, uid: 105 }, "/var/lib/app/x": {} });
    const items = [file("/etc/job.state", ["create"]), file("/var/lib/app/new", ["create"])];
    const needs = resolveNeeds(accessNeeds(items, h).needs, h);
    const g = planGrants({ user, needs, verdicts: needs.map((n) => (n.mode & W && n.path !== "/" ? "EACCES" : "ok")), groupFixes: new Map(), items, host: h });
    const etc = g.find((x) => x.path === "/etc")!;
    expect([etc.grant, etc.perms, etc.dirWrite, etc.rootEquivalent]).toEqual(["acl", "wx", true, true]);
    expect(etc.because).toMatch(/root in all but name/);
    expect(etc.alternative).toMatch(/StateDirectory=/);
    const app = g.find((x) => x.path === "/var/lib/app")!;
    expect([app.dirWrite, app.rootEquivalent]).toEqual([true, true]);          // under /var/lib: a system tree
    const script = shPlan({ type: "plan", v: 1, user: "u", uid: 1000, groups: [], host: "h", at: 0, commands: [], checked: 0, denied: 0, grants: {}, unchecked: [], note: "", warning: "" }, g, "0").text;
    const apply = script.slice(script.indexOf("apply() {"), script.indexOf("undo() {"));
    expect(apply).not.toMatch(/^ {2}if ! already \/etc /m);
    expect(apply).toMatch(/^ {2}# +if ! already \/etc /m);
  });
});

describe("aclGrant: the user's entry added, and nobody else's effective rights changed", () => {
  const eff = (acl: string[]) => {
    // what each entry may do, as the kernel decides it: group-class entries through the mask
    const mask = acl.find((l) => l.startsWith("mask::"))?.slice(6);
    const and = (a: string, b?: string) => (b ? [...a].map((c, i) => (b[i] === "-" ? "-" : c)).join("") : a);
    return new Map(acl.filter((l) => !l.startsWith("mask::")).map((l) => {
      const [tag, id, bits] = l.split(":");
      return [`${tag}:${id}`, tag === "other" || (tag === "user" && id === "") ? bits : and(bits, mask)];
    }));
  };
  it("group:other:rw- under mask r--: the mask widens for the user, and the group stays at r--", () => {
    const before = ["user::rw-", "group::r--", "group:50:rw-", "mask::r--", "other::---"];
    const { after } = aclGrant(before, 1000, W | R);
    expect(after).toEqual(["user::rw-", "user:1000:rw-", "group::r--", "group:50:r--", "mask::rw-", "other::---"]);
    expect(eff(after).get("group:50")).toBe("r--");
  });
  it("over many ACLs: every other entry's effective rights are as before, the user's are what was asked", () => {
    const t = (b: number) => (b & 4 ? "r" : "-") + (b & 2 ? "w" : "-") + (b & 1 ? "x" : "-");
    let seed = 7;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    for (let k = 0; k < 500; k++) {
      const named = [...new Set(Array.from({ length: rnd(4) }, () => 999 + rnd(4)))].sort((a, b) => a - b);
      const groups = [...new Set(Array.from({ length: rnd(3) }, () => 40 + rnd(5)))].sort((a, b) => a - b);
      const extended = named.length + groups.length > 0;
      const before = [`user::${t(rnd(8))}`, ...named.map((i) => `user:${i}:${t(rnd(8))}`), `group::${t(rnd(8))}`,
        ...groups.map((i) => `group:${i}:${t(rnd(8))}`), ...(extended ? [`mask::${t(rnd(8))}`] : []), `other::${t(rnd(8))}`];
      const want = 1 + rnd(7);
      const { after, mine } = aclGrant(before, 1000, want);
      const b = eff(before), a = eff(after);
      for (const [key, bits] of b) if (key !== "user:1000") expect(a.get(key), `${before} → ${after}: ${key}`).toBe(bits);
      expect([...a.keys()].filter((x) => !b.has(x))).toEqual(["user:1000"].filter((x) => !b.has(x)));
      expect(a.get("user:1000")).toBe(t(mine));
      expect(mine & want).toBe(want);
    }
  });
});
