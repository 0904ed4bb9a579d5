// trace-policy's AppArmor profile and systemd drop-in, checked by the real tools that enforce them.
import { afterAll, describe, expect, it, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { FIX, ROOT, run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/trace-policy-");
// written outside the temporary directories, so that it needs a rule of its own
const out = "/run/leastpriv-policy-test";
let events = "";

describe("trace-policy --format apparmor|systemd", () => {
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  beforeAll(() => {
    events = run("trace-run", ["--", "sh", "-c",
      `cat /etc/hostname; ls /var/log >/dev/null; mkdir -p ${out}; echo a > ${out}/f; echo b > ${tmp}/g; ` +
      `python3 -c 'import socket; s=socket.socket(); s.settimeout(1); s.connect_ex(("127.0.0.1", 9))'`]).stdout;
  });

  it("an AppArmor profile with the modes used, sockets and capabilities, that apparmor_parser accepts", () => {
    const r = run("trace-policy", ["--format", "apparmor"], events);
    expect(r.status).toBe(0);
    const p = r.stdout;
    expect(p).toMatch(/^profile sh \/usr\/bin\/dash flags=\(attach_disconnected\) \{$/m);
    expect(p).toMatch(/^  \/etc\/hostname r,$/m);
    expect(p).toMatch(/^  \/var\/log\/ r,$/m);                        // a directory listed
    expect(p).toContain(`  ${out}/f w,\n`);
    expect(p).toMatch(/^  \/tmp\/trace-policy-[^/ ]+\/g w,$/m);
    expect(p).not.toMatch(/^  \/run w,$/m);                         // mkdir -p's EEXIST on /run is no grant
    expect(p).toMatch(/^  \/usr\/bin\/cat ix,$/m);
    expect(p).toMatch(/^  \/(usr\/)?lib\/x86_64-linux-gnu\/libc\.so\.6 m?r,$/m);
    expect(p).toMatch(/^  network inet stream,$/m);
    writeFileSync(tmp + "/profile", p);
    const ok = spawnSync("apparmor_parser", ["-Q", "-K", tmp + "/profile"], { encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    // the check can fail: a profile with a broken rule is refused
    writeFileSync(tmp + "/broken", p.replace("/etc/hostname r,", "/etc/hostname r"));
    expect(spawnSync("apparmor_parser", ["-Q", "-K", tmp + "/broken"]).status).not.toBe(0);
  });

  it("capabilities from a run that used privilege", () => {
    const p = run("trace-policy", ["--format", "apparmor"], run("trace-parse", [FIX + "priv.strace"]).stdout).stdout;
    expect(p).toContain("  capability net_bind_service,  # bind 127.0.0.1:80 (ok)\n");
    expect(p).toContain("  capability sys_admin,");
    writeFileSync(tmp + "/priv", p);
    expect(spawnSync("apparmor_parser", ["-Q", "-K", tmp + "/priv"]).status).toBe(0);
  });

  it("a systemd drop-in, each directive with its evidence, that systemd-analyze verify accepts", () => {
    const r = run("trace-policy", ["--format", "systemd"], events);
    expect(r.status).toBe(0);
    const d = r.stdout;
    expect(d).toContain("[Service]\n");
    expect(d).toContain("# SystemCallFilter= left out: the trace followed only some system calls");
    expect(d).toMatch(/^RestrictAddressFamilies=.*\bAF_INET\b/m);
    expect(d).toMatch(/^CapabilityBoundingSet=$/m);
    expect(d).toMatch(/^ProtectSystem=strict$/m);
    expect(d).toContain(`ReadWritePaths=-${out}\n`);                  // not /run, where mkdir -p only failed
    expect(d).toContain("# writes under /tmp: a private /tmp of its own\nPrivateTmp=yes");
    expect(d).toMatch(/^IPAddressAllow=127\.0\.0\.1$/m);
    const full = run("trace-policy", ["--format", "systemd"], run("trace-run", ["--all-syscalls", "--", "cat", "/etc/hostname"]).stdout).stdout;
    expect(full).toMatch(/^SystemCallFilter=.*\bopenat\b.*$/m);
    for (const [name, dropIn] of [["a", d], ["b", full]]) {
      const units = `${tmp}/units-${name}`;
      mkdirSync(`${units}/lp-test.service.d`, { recursive: true });
      writeFileSync(`${units}/lp-test.service`, "[Unit]\nDescription=leastpriv test\n[Service]\nExecStart=/usr/bin/cat /etc/hostname\n");
      writeFileSync(`${units}/lp-test.service.d/sandbox.conf`, dropIn);
      const v = spawnSync("systemd-analyze", ["verify", `${units}/lp-test.service`], { encoding: "utf8", env: { ...process.env, SYSTEMD_UNIT_PATH: units + ":" } });
      expect(v.status, v.stderr).toBe(0);
      expect(v.stderr).not.toMatch(/sandbox\.conf/);                  // no complaint about any line of ours
    }
    // the check can fail: a misspelt directive is reported
    const bad = `${tmp}/units-bad`;
    mkdirSync(`${bad}/lp-test.service.d`, { recursive: true });
    writeFileSync(`${bad}/lp-test.service`, "[Unit]\nDescription=leastpriv test\n[Service]\nExecStart=/usr/bin/cat /etc/hostname\n");
    writeFileSync(`${bad}/lp-test.service.d/sandbox.conf`, d.replace("ProtectSystem=strict", "ProtectSystm=strict"));
    expect(spawnSync("systemd-analyze", ["verify", `${bad}/lp-test.service`], { encoding: "utf8", env: { ...process.env, SYSTEMD_UNIT_PATH: bad + ":" } }).stderr).toMatch(/sandbox\.conf.*Unknown key/);
  });

  it("bad input: a line that is not a record, or no system calls at all, writes no policy (exit 2)", () => {
    const r = run("trace-policy", ["--format", "systemd"], "not json\n");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^trace-policy: <stdin>:1: invalid JSON/);
    expect(r.stdout).toBe("");
    expect(run("trace-policy", ["--format", "apparmor"], "").stderr).toBe("trace-policy: no system calls in the input: no policy written\n");
  });
});
