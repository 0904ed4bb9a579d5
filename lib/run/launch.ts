// How trace-run starts the traced command: with exactly the argument bytes it was given and, with
// --user, the way sudo would: a session of its own with no way to root's terminal, a reset
// environment, and none of root's descriptors but 0-2.

import { spawnSync, type StdioOptions } from "node:child_process";
import { closeSync, constants, openSync, readFileSync } from "node:fs";
import tty from "node:tty";
import { decodeBytes, encodeBytes } from "../io/bytes.js";
import { UserError } from "../errors.js";

/** The PATH a --user command gets (sudo's secure_path on Debian): never root's own. */
export const SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * trace-run's arguments as the bytes it was given, decoded the way records carry bytes (lib/io/bytes.ts):
 * Node decodes argv as UTF-8 and replaces what is not, so they are read again from /proc/self/cmdline.
 */
export function rawArgs(given = process.argv.slice(2)): string[] {
  let parts: Buffer[];
  try {
    const b = readFileSync("/proc/self/cmdline");
    parts = [];
    for (let i = 0, j; i < b.length; i = j + 1) {
      j = b.indexOf(0, i);
      if (j < 0) j = b.length;
      parts.push(b.subarray(i, j));
    }
  } catch { return given; }
  const tail = parts.slice(parts.length - given.length);
  // the same words as Node's (only its decoding differs), or /proc says something else: keep Node's
  if (tail.length !== given.length || tail.some((p, i) => p.toString("utf8") !== given[i])) return given;
  return tail.map((p) => decodeBytes(p));
}

/**
 * The command as given, from the words yargs parsed out of it: the command is the last words of the
 * arguments, taken as they came (yargs reads `1e3` as 1000, and Node's argv has lost any byte that is
 * not UTF-8).
 */
export function commandAsGiven(parsed: string[], raw = rawArgs()): string[] {
  if (parsed.length > raw.length) return parsed;
  const tail = raw.slice(raw.length - parsed.length);
  const same = (a: string, b: string) => a === b || a.replace(/[\udc80-\udcff]/g, "\ufffd") === b || Number(a) === Number(b);
  return tail.every((w, i) => same(w, parsed[i])) ? tail : parsed;
}

/**
 * The launcher: a perl one-liner (perl is already the bpftrace backend's and the cost meter's; without
 * modules it starts in a few milliseconds, where POSIX.pm alone costs 40) that takes its argv in hex,
 * so that any byte survives Node's string arguments, and then, as its options say:
 *   pty=FD     FD is a pty master: its peer becomes our controlling terminal (we lead a session of our
 *              own) and replaces the descriptors listed in tty=0.1.2; rows/cols set its size;
 *   close      closes every descriptor above 2;
 *   stop       stops until continued (the tracer attaches meanwhile);
 *   path=HEX   the file to run (else argv[0], found on PATH).
 * ioctl numbers: TIOCSPTLCK, TIOCGPTPEER, TIOCSCTTY, TIOCSWINSZ, TCGETS/TCSETS (the same on x86-64 and
 * arm64). The pty does not turn \n into \r\n: the terminal we relay to does that already.
 */
export const LAUNCHER = [
  'my %o = map { /=/ ? split(/=/, $_, 2) : ($_, 1) } split /,/, shift @ARGV; my @a = map { pack "H*", $_ } @ARGV;',
  'sub fail { print STDERR "trace-run: $_[0]: $!\\n"; exit 125 }',
  'if (exists $o{pty}) {',
  '  open(my $m, "+<&=", $o{pty}) or fail("pty"); ioctl($m, 0x40045431, my $u = pack("i", 0)) or fail("unlockpt");',
  '  my $s = ioctl($m, 0x5441, my $f = 0x102); defined $s or fail("pty peer"); open(my $t, "+<&=", $s) or fail("pty peer");',
  '  ioctl($t, 0x540E, my $z = 0) or fail("controlling terminal");',
  '  ioctl($t, 0x5414, my $w = pack("S4", $o{rows}, $o{cols}, 0, 0)) if $o{rows};',
  '  if (ioctl($t, 0x5401, my $tio = "\\0" x 64)) { my @f = unpack("L4", $tio); $f[1] &= ~4; substr($tio, 0, 16) = pack("L4", @f); ioctl($t, 0x5402, $tio) }',
  '  for (split /\\./, $o{tty}) { ($_ == 0 ? open(STDIN, "<&", $t) : $_ == 1 ? open(STDOUT, ">&", $t) : open(STDERR, ">&", $t)) or fail("dup") }',
  '  close $t; close $m }',
  'if ($o{close}) { opendir(my $d, "/proc/self/fd") or fail("/proc/self/fd"); my @f = grep { /^\\d+$/ && $_ > 2 } readdir $d; closedir $d;',
  '  for (@f) { open(my $h, "<&=", $_) and close $h } }',
  'kill "STOP", $$ if $o{stop};',
  'my $p = exists $o{path} ? pack("H*", $o{path}) : $a[0]; exec { $p } @a; print STDERR "$a[0]: $!\\n"; exit($!{ENOENT} ? 127 : 126)',
].join("\n");

/** The argv that runs `argv` (any bytes, as lib/io/bytes.ts decodes them) through the launcher with these options. */
export function launcherArgv(argv: string[], opts: string[] = [], path?: string): string[] {
  if (path !== undefined) opts = [...opts, "path=" + encodeBytes(path).toString("hex")];
  return ["perl", "-e", LAUNCHER, opts.join(","), ...argv.map((a) => encodeBytes(a).toString("hex"))];
}

export interface Account { name: string; uid: number; gid: number; home: string; shell: string }

/** The user's passwd entry (by name or number), through NSS. */
export function account(user: string): Account {
  const r = spawnSync("getent", ["passwd", user], { encoding: "utf8" });
  const f = r.status === 0 ? r.stdout.split("\n")[0].split(":") : [];
  if (f.length < 7) throw new UserError(`--user ${user}: no such user`, 125);
  return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] || "/bin/sh" };
}

/** What a --user command's environment is: the user's own, a safe PATH, the terminal and locale, and what was asked for. */
export function userEnvironment(a: Account, preserve: string[] = [], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = { HOME: a.home, SHELL: a.shell, USER: a.name, LOGNAME: a.name, PATH: SAFE_PATH };
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && (k === "TERM" || k === "LANG" || k === "LANGUAGE" || k.startsWith("LC_"))) out[k] = v;
  }
  for (const k of preserve) if (env[k] !== undefined) out[k] = env[k]!;
  return out;
}

/**
 * A --user command's session: a new one (spawn it detached), and, when any of the descriptors it
 * would get is a terminal, a pty of its own in that terminal's place, whose output goes to our
 * stderr and which gets our keystrokes. A terminal is never handed over, even as stdout alone: a
 * program holding one can push input into it (TIOCSTI) or take it as its controlling terminal.
 */
export class Session {
  readonly stdio: StdioOptions;
  readonly opts: string[] = ["close"];
  private master?: number;
  private stream?: tty.ReadStream;
  private raw = false;
  private closed?: Promise<void>;

  /** `fds`: what the command's 0, 1 and 2 would be (our descriptors). */
  constructor(fds: [number, number, number]) {
    const ttys = [0, 1, 2].filter((i) => tty.isatty(fds[i]));
    this.stdio = [...fds];
    if (!ttys.length) return;
    this.master = openSync("/dev/ptmx", constants.O_RDWR | constants.O_NOCTTY);
    this.stdio = [...fds, this.master];
    const size = ([process.stderr, process.stdout] as tty.WriteStream[]).find((s) => s.isTTY && s.rows);
    this.opts.push(`pty=3`, `tty=${ttys.join(".")}`, ...(size ? [`rows=${size.rows}`, `cols=${size.columns}`] : []));
  }

  /** Once the command is started: relay its terminal. */
  start(): void {
    if (this.master === undefined) return;
    const s = this.stream = new tty.ReadStream(this.master);
    // the command's own terminal output, in the place of the terminal it would have written to: not
    // a diagnostic of ours (nothing is added or escaped), so it does not go through the command's Tell
    s.on("data", (d: Buffer) => { process.stderr.write(d); });
    // EIO: every holder of the pty's other side has closed it
    this.closed = new Promise((resolve) => { s.on("error", () => resolve()); s.on("close", () => resolve()); s.on("end", () => resolve()); });
    if (tty.isatty(0) && (this.stdio as number[])[0] === 0) {
      process.stdin.setRawMode(true);
      this.raw = true;
      // should we end some other way, the terminal is not left raw
      process.once("exit", this.restore);
      process.stdin.on("data", this.forward);
    }
  }

  private forward = (d: Buffer) => { this.stream?.write(d); };

  private restore = () => {
    if (!this.raw) return;
    this.raw = false;
    process.stdin.off("data", this.forward);
    process.stdin.setRawMode(false);
    process.stdin.pause();
  };

  /** When the command has ended: what its terminal still holds is written out, then the pty closes
   *  (anything it left running that holds the pty gets SIGHUP, as when a terminal closes). */
  async end(): Promise<void> {
    this.restore();
    if (this.master === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closed, new Promise<void>((r) => { timer = setTimeout(r, 300); })]);
    clearTimeout(timer);
    this.stream?.destroy();
    if (!this.stream) closeSync(this.master);
    this.master = undefined;
  }
}
