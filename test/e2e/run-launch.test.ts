// How trace-run starts the command, under both backends: --user as sudo would (a session and a pty of
// its own, a reset environment, none of root's other descriptors), and argv passed byte for byte.
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, withHostLock } from "../helpers.js";

const TR = ROOT + "dist/commands/trace-run.js";
const tmp = mkdtempSync(tmpdir() + "/trace-launch-");
const user = `lprun${process.pid % 100000}`;
const home = `/home/${user}-nonexistent`;
const BACKENDS = ["strace", "bpftrace"];

// Runs trace-run with its stderr (and, for "tty", its stdin) on a pty that is its controlling
// terminal, as in an admin's shell; prints what input that terminal holds once trace-run is done
// (what root's shell would read and run next) and what was written on it.
const TERMINAL = `
import os, sys, subprocess, fcntl, termios, array, select, json
master, slave = os.openpty()
stdin = slave if sys.argv[1] == "tty" else subprocess.DEVNULL
p = subprocess.Popen(sys.argv[2:], stdin=stdin, stdout=subprocess.PIPE, stderr=slave,
                     preexec_fn=lambda: (os.setsid(), fcntl.ioctl(slave, termios.TIOCSCTTY, 0)))
out = b""
while True:
    r, _, _ = select.select([master, p.stdout], [], [], 0.1)
    if master in r: out += os.read(master, 65536)
    if p.stdout in r and not os.read(p.stdout.fileno(), 1 << 20) and p.poll() is not None: break
    if not r and p.poll() is not None: break
p.wait()
pending = array.array("i", [0]); fcntl.ioctl(slave, termios.FIONREAD, pending)
os.set_blocking(master, False)
try: out += os.read(master, 65536)
except BlockingIOError: pass
print(json.dumps({"status": p.returncode, "pending": pending[0], "terminal": out.decode("utf8", "replace")}))
`;
// what a hostile program run as the user does: push a command into whichever terminal it holds
const INJECT = `
import fcntl, termios, sys
for fd in (0, 1, 2):
    try:
        for c in b"id > /tmp/x\\n": fcntl.ioctl(fd, termios.TIOCSTI, bytes([c]))
        print("injected on", fd, file=sys.stderr); break
    except OSError as e: print("fd", fd, e.strerror, file=sys.stderr)
`;

describe("trace-run --user: like sudo", () => {
  beforeAll(() => {
    chmodSync(tmp, 0o755);
    writeFileSync(tmp + "/terminal.py", TERMINAL);
    writeFileSync(tmp + "/inject.py", INJECT);
    // useradd and userdel rewrite /etc/shadow (a new inode): not while another test plans and applies on it
    withHostLock(() => { spawnSync("userdel", [user]); execFileSync("useradd", ["-M", "-d", home, "-s", "/bin/sh", user]); });
  }, 900_000);
  afterAll(() => {
    withHostLock(() => spawnSync("userdel", [user]));
    rmSync(tmp, { recursive: true, force: true });
  }, 900_000);

  for (const backend of BACKENDS) {
    for (const stdin of ["tty", "notty"]) {
      it(`--backend ${backend}, stdin ${stdin === "tty" ? "a terminal" : "not a terminal"}: nothing the command pushes reaches root's terminal; its output does`, () => {
        const r = spawnSync("/usr/bin/python3", [tmp + "/terminal.py", stdin, process.execPath, TR, "--backend", backend, "--user", user, "--",
          "/usr/bin/python3", tmp + "/inject.py"], { encoding: "utf8", cwd: tmp, timeout: 120000 });
        expect(r.stderr).toBe("");
        const t = JSON.parse(r.stdout);
        expect(t.status, t.terminal).toBe(0);
        // before: 12 bytes ("id > /tmp/x\n") waiting in root's terminal, run by its shell as root
        expect(t.pending, t.terminal).toBe(0);
        // the program's messages come through the pty trace-run relays (or it had no terminal to push into)
        expect(t.terminal).toMatch(/injected on \d|Inappropriate ioctl|Operation not permitted/);
      }, 120000);
    }

    it(`--backend ${backend}: the user's environment, not root's (SECRET_TOKEN stays out; --preserve-env passes one); root's fd 5 is closed`, () => {
      const secretFile = tmp + "/fd5.txt";
      writeFileSync(secretFile, "root's open file\n");
      const fd = openSync(secretFile, "r");
      try {
        const traced = (extra: string[]) => spawnSync(process.execPath, [TR, "--backend", backend, "--user", user, ...extra, "--", "sh", "-c",
          'echo "T=${SECRET_TOKEN-unset} H=$HOME U=$USER L=$LOGNAME S=$SHELL K=${KEEP-unset} P=$PATH"; cat <&5 || echo no-fd-5'], {
          encoding: "utf8", cwd: tmp, stdio: ["ignore", "pipe", "pipe", "ignore", "ignore", fd],
          env: { PATH: process.env.PATH!, HOME: "/root", SECRET_TOKEN: "s3cr3t", KEEP: "kept", TERM: "dumb", LANG: "C" },
        });
        const r = traced([]);
        expect(r.status, r.stderr).toBe(0);
        // before: T=s3cr3t H=/root ... P=root's PATH, and root's open file read through fd 5
        expect(r.stderr).toContain(`T=unset H=${home} U=${user} L=${user} S=/bin/sh K=unset P=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n`);
        expect(r.stderr).toContain("no-fd-5\n");
        expect(r.stderr).not.toContain("root's open file");
        const recs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
        expect(recs[0]).toMatchObject({ type: "run", user });
        const kept = traced(["--preserve-env", "KEEP"]);
        expect(kept.status, kept.stderr).toBe(0);
        expect(kept.stderr).toContain(`T=unset H=${home} U=${user} L=${user} S=/bin/sh K=kept P=`);
      } finally { closeSync(fd); }
    }, 120000);
  }

  it("--preserve-env without --user is a usage error", () => {
    const r = spawnSync(process.execPath, [TR, "--preserve-env", "X", "--", "true"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^trace-run: --preserve-env goes with --user/);
  });
});

describe("trace-run: the command's arguments, byte for byte", () => {
  for (const backend of BACKENDS) {
    it(`--backend ${backend}: a file whose name is not UTF-8 is opened exactly, and words are not read as numbers`, () => {
      const dir = mkdtempSync(tmpdir() + "/trace-bytes-");
      try {
        writeFileSync(Buffer.from(dir + "/caf\xe9", "latin1"), "bytes\n");
        // Node cannot pass such a name itself: a shell makes it
        const r = spawnSync("bash", ["-c", `exec "${process.execPath}" "${TR}" --backend ${backend} -- sh -c 'cat "$1"; printf "%s\\n" "$2"' sh "$(printf '${dir}/caf\\351')" 1e3`],
          { encoding: "utf8", maxBuffer: 1 << 26 });
        // before: cat: '/tmp/.../caf'$'\357\277\275': No such file or directory, and 1000
        expect(r.stderr).toBe("bytes\n1e3\n");
        expect(r.status).toBe(0);
        const recs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
        const name = dir + "/caf\udce9";
        expect(recs[0].argv).toEqual(["sh", "-c", 'cat "$1"; printf "%s\\n" "$2"', "sh", name, "1e3"]);
        expect(recs.find((x) => x.type === "syscall" && x.syscall === "openat" && x.path === name)).toMatchObject({ ok: true, op: "read" });
      } finally { rmSync(dir, { recursive: true, force: true }); }
    }, 120000);
  }
});
