// trace-policy's AppArmor profiles from real runs of scripts and a container: every rule on the file
// the kernel uses (no link on the way to it), the scripts' interpreters allowed to run, shared objects
// mappable, the profile named after what the run started; checked by apparmor_parser.
import { afterAll, describe, expect, it } from "vitest";
import { execFileSync, execSync, spawnSync } from "node:child_process";
import { chmodSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/trace-aa-");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const PATH = { PATH: "/usr/bin:/bin" };         // the system's python3, not one a user's PATH puts first

interface Rule { path: string; modes: string }

/** The profile's name, attachment and file rules, after apparmor_parser has accepted it. */
function parsed(text: string, file: string): { name: string; attach?: string; rules: Rule[] } {
  writeFileSync(file, text);
  const ok = spawnSync("apparmor_parser", ["-Q", "-K", file], { encoding: "utf8" });
  expect(ok.status, ok.stderr).toBe(0);
  const head = /^profile (\S+)(?: (\/\S*))? flags=/m.exec(text);
  expect(head).not.toBeNull();
  const rules = [...text.matchAll(/^ {2}(\/\S*) ([a-z]+),$/gm)].map((m) => ({ path: m[1], modes: m[2] }));
  return { name: head![1], attach: head![2], rules };
}

/**
 * Why a rule's path is not on the file itself: a link on the way to it (under `root`), or, for what
 * the run read, mapped or ran, nothing there. Globs are checked up to their first glob character.
 */
function offCanonical(r: Rule, root = "", needExisting = true): string | undefined {
  const glob = r.path.search(/[*?[{]/);
  const literal = glob < 0 ? r.path : r.path.slice(0, r.path.lastIndexOf("/", glob) + 1);
  const parts = literal.split("/").filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const p = root + "/" + parts.slice(0, i).join("/");
    let st;
    try { st = lstatSync(p); } catch {
      return needExisting && glob < 0 && /[rmx]/.test(r.modes) && !r.modes.includes("w") ? `${r.path} ${r.modes}: not there` : undefined;
    }
    if (st.isSymbolicLink()) return `${r.path} ${r.modes}: ${p.slice(root.length)} is a link`;
  }
  return undefined;
}

function profileOf(script: string, body: string) {
  const f = `${tmp}/${script}`;
  writeFileSync(f, body);
  chmodSync(f, 0o755);
  const t = run("trace-run", ["--", f], undefined, PATH);
  expect(t.status, t.stderr).toBe(0);
  const p = run("trace-policy", ["--format", "apparmor"], t.stdout, PATH);
  expect(p.status, p.stderr).toBe(0);
  return { file: f, ...parsed(p.stdout, `${tmp}/${script}.aa`) };
}

const mode = (rules: Rule[], path: string) => rules.find((r) => r.path === path)?.modes;

describe("trace-policy --format apparmor on the files the kernel used", () => {
  for (const [label, shebang, interps] of [
    ["python3 by #!/usr/bin/python3", "#!/usr/bin/python3", ["/usr/bin/python3.11"]],
    ["python3 by #!/usr/bin/env python3", "#!/usr/bin/env python3", ["/usr/bin/env", "/usr/bin/python3.11"]],
  ] as const) {
    it(`a ${label} script: its interpreter, the libraries mr, no link named`, () => {
      const p = profileOf("job.py", `${shebang}\nimport json, zlib\nprint(json.dumps({"z": zlib.crc32(b"x")}))\n`);
      expect(p.name).toBe("job.py");
      expect(p.attach).toMatch(/^\/tmp\/.*\/job\.py$/);       // its random directory as a glob (lib/pattern.ts)
      expect(p.rules.map((r) => offCanonical(r)).filter(Boolean)).toEqual([]);
      for (const i of interps) expect(mode(p.rules, i)).toMatch(/ix$/);
      expect(mode(p.rules, p.attach!)).toMatch(/^r/);
      expect(mode(p.rules, "/usr/lib/x86_64-linux-gnu/libc.so.6")).toBe("mr");
      expect(p.rules.filter((r) => r.path.endsWith("-linux-gnu.so")).map((r) => r.modes)).toContain("mr");   // zlib, dlopen'ed
    }, 60000);
  }

  it("a shell script run by #!/bin/sh, five times: dash by its own name, /usr/lib not /lib, the same rules each time", () => {
    const runs = [1, 2, 3, 4, 5].map(() => profileOf("job.sh", "#!/bin/sh\nls /etc > /dev/null\necho done | cat > /dev/null\n"));
    for (const r of runs) expect(r.rules).toEqual(runs[0].rules);
    const p = runs[0];
    expect(p.name).toBe("job.sh");
    expect(p.rules.map((r) => offCanonical(r)).filter(Boolean)).toEqual([]);
    expect(mode(p.rules, "/usr/bin/dash")).toBe("ix");
    for (const prog of ["/usr/bin/ls", "/usr/bin/cat"]) expect(mode(p.rules, prog)).toBe("ix");
    expect(mode(p.rules, "/usr/lib/x86_64-linux-gnu/libselinux.so.1")).toBe("mr");        // ls's, named /lib/… by the loader
  }, 60000);

  it("a container: named after its entrypoint, its rules on the files in the image", () => {
    execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
    // bpftrace, which runs beside other traces of containerd; the entrypoint is a shell that runs the image's job, so it is not the alphabetically first program
    const t = run("trace-run", ["--backend", "bpftrace", "--", "docker", "run", "--rm", "leastpriv-glibc:1", "sh", "-c", "/app/job.sh"]);
    expect(t.status, t.stderr).toBe(0);
    const root = mkdtempSync(tmpdir() + "/trace-aa-root-");
    try {
      const id = execFileSync("docker", ["create", "leastpriv-glibc:1"], { encoding: "utf8" }).trim();
      try { execSync(`docker export ${id} | tar -x -C ${root}`); } finally { execFileSync("docker", ["rm", id]); }
      const prof = run("trace-summarize", ["--root", root], t.stdout);
      expect(prof.status, prof.stderr).toBe(0);
      expect(prof.records()[0].entrypoints).toEqual(["/usr/bin/dash"]);
      const pol = run("trace-policy", ["--format", "apparmor"], prof.stdout);
      expect(pol.status, pol.stderr).toBe(0);
      const p = parsed(pol.stdout, `${tmp}/container.aa`);
      expect(p.name).toBe("dash");
      expect(p.attach).toBe("/usr/bin/dash");
      // what the run made (its outputs, temporaries) is not in the image: only links are looked for there;
      // /proc, /dev and /sys are the container's at run time
      const runtime = /^\/(proc|dev|sys)\//;
      expect(p.rules.filter((r) => !runtime.test(r.path)).map((r) => offCanonical(r, root, /x|m/.test(r.modes))).filter(Boolean)).toEqual([]);
      expect(mode(p.rules, "/app/job.sh")).toMatch(/^r/);
      expect(mode(p.rules, "/usr/bin/python3.11")).toBe("ix");              // job.sh runs python3, a link in the image
      expect(mode(p.rules, "/usr/lib/x86_64-linux-gnu/libc.so.6")).toBe("mr");
    } finally { rmSync(root, { recursive: true, force: true }); }
  }, 180000);
});
