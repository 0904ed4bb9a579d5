// trace-grant's planning on a made-up host: which checks an access becomes, and which grant a denial gets.
import { describe, expect, it } from "vitest";
import { R, W, X, type UserInfo } from "../../lib/access.js";
import { accessNeeds, planGrants, type Host } from "../../lib/grant.js";
import type { Summary } from "../../lib/summary.js";

const file = (path: string, ops: string[], extra: Partial<Summary> = {}): Summary => ({
  type: "summary", kind: "file", path, ops, okOps: ops, syscalls: ["openat"], calls: 1, ok: 1, errors: {}, programs: ["/usr/bin/tool"], ...extra,
});
const user: UserInfo = { name: "u", uid: 1000, gid: 1000, groups: [{ gid: 1000, name: "u" }] };

function host(files: { [p: string]: { uid?: number; gid?: number; dir?: boolean; script?: boolean; acl?: string; fs?: string } }): Host {
  return {
    exists: (p) => p in files,
    stat: (p) => (p in files ? { uid: files[p].uid ?? 0, gid: files[p].gid ?? 0, mode: 0o644, dir: !!files[p].dir } : undefined),
    isScript: (p) => !!files[p]?.script,
    noAcl: (p) => files[p]?.fs ?? (p.startsWith("/proc/") ? "proc" : undefined),
    aclEntries: (paths) => new Map(paths.map((p) => [p, { entry: files[p]?.acl, extended: !!files[p]?.acl }])),
    groupName: (gid) => ({ 4: "adm", 42: "shadow" } as { [g: number]: string })[gid] ?? String(gid),
    unprivilegedPortStart: () => 1024,
  };
}
const checks = (items: Summary[], h: Host) => accessNeeds(items, h).needs.map((n) => `${n.path} ${n.mode}${n.how ? " " + n.how : ""}${n.owner ? " owner" : ""}`).sort();

describe("accessNeeds: the kernel checks an access stands for", () => {
  const h = host({ "/etc/app.conf": {}, "/var/lib/app/state": {}, "/usr/bin/tool.sh": { script: true } });
  it("a read: the file, and search on every ancestor", () => {
    expect(checks([file("/etc/app.conf", ["read"])], h)).toEqual(["/ 1", "/etc 1", `/etc/app.conf ${R}`]);
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
  const plan = (items: Summary[], h: Host, denied: string[], opts: { groups?: Map<number, string[]>; current?: Map<string, number>; collapse?: number } = {}) => {
    const { needs } = accessNeeds(items, h);
    const verdicts = needs.map((n) => (denied.includes(n.path) ? "EACCES" : "ok"));
    const groupFixes = new Map([...(opts.groups ?? [])].map(([gid, ps]) => [gid, new Set(needs.flatMap((n, i) => (ps.includes(n.path) ? [i] : [])))]));
    return planGrants({ user, needs, verdicts, groupFixes, current: opts.current, items, host: h, collapse: opts.collapse });
  };
  it("a closed directory gets a search bit, a file an ACL entry that keeps what the user may do now", () => {
    const h = host({ "/srv/data": { dir: true }, "/srv/data/x": {} });
    const g = plan([file("/srv/data/x", ["read", "write"], { okOps: ["read", "write"] })], h, ["/srv/data", "/srv/data/x"], { current: new Map([["/srv/data/x", R]]) });
    expect(g.map((x) => [x.grant, x.path, x.perms])).toEqual([["search", "/srv/data", "x"], ["acl", "/srv/data/x", "rw"]]);
    expect(g[1].because).toMatch(/denied writing \/srv\/data\/x/);
    expect(g[1].undo).toEqual(["setfacl -x u:u -- /srv/data/x", "setfacl -x m:: -- /srv/data/x 2>/dev/null || :"]);
  });
  it("an ACL entry the user already has is widened, and undo puts it back", () => {
    const h = host({ "/etc/app.conf": { acl: "r--" } });
    const [g] = plan([file("/etc/app.conf", ["write"])], h, ["/etc/app.conf"]);
    expect([g.perms, g.apply, g.undo]).toEqual(["rw", ["setfacl -m u:u:rw -- /etc/app.conf"], ["setfacl -m u:u:r-- -- /etc/app.conf"]]);
  });
  it("a safe group that lifts two denials is one grant; a dangerous one is never offered", () => {
    const h = host({ "/var/log/a": { gid: 4 }, "/var/log/b": { gid: 4 } });
    const items = [file("/var/log/a", ["read"]), file("/var/log/b", ["read"])];
    const g = plan(items, h, ["/var/log/a", "/var/log/b"], { groups: new Map([[4, ["/var/log/a", "/var/log/b"]]]) });
    expect(g.map((x) => [x.grant, x.group ?? x.path])).toEqual([["group", "adm"]]);
    expect(g[0].apply[0]).toContain("usermod -a -G adm u");
    const s = host({ "/etc/shadow": { gid: 42 }, "/etc/gshadow": { gid: 42 } });
    const shadow = plan([file("/etc/shadow", ["read"]), file("/etc/gshadow", ["read"])], s, ["/etc/shadow", "/etc/gshadow"], { groups: new Map([[42, ["/etc/shadow", "/etc/gshadow"]]]) });
    expect(shadow.map((x) => x.grant)).toEqual(["acl", "acl"]);
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
    expect(g[0].apply[0]).toBe("setfacl -m u:u:r -- /etc/conf.d/f00");
    expect(plan(items, host(files), Object.keys(files), { collapse: 12 })).toHaveLength(12);
  });
});
