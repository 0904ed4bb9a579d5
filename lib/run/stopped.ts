// A command started stopped (the launcher stops itself, then execs the command on SIGCONT), so that a
// tracer can be attached to its pid before its first instruction, and let go once it is.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { UserError } from "../errors.js";
import { Session, launcherArgv, type Account } from "./launch.js";
import { EXIT_RUN_FAILED, type ProcStatus } from "./session.js";
import { NotStarted, type Start } from "./backend.js";

/** Waits until the process is stopped (state T); a UserError when it ended first, or did not stop within 5 s. */
export async function waitStopped(child: ChildProcess): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (child.exitCode !== null || child.signalCode !== null) throw new UserError("the command ended before it could be traced", EXIT_RUN_FAILED);
    try {
      const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "T") return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new UserError("the command did not stop for the tracer within 5 s", EXIT_RUN_FAILED);
}

/** A command started stopped (the launcher stops itself, then execs it on SIGCONT), so that its pid can
 *  be traced from its first instruction: resolves once it is stopped. */
export async function launchStopped(command: string[], o: { path?: string; stdio?: ("inherit" | "ignore" | "pipe" | number)[]; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ChildProcess> {
  const argv = launcherArgv(command, ["stop"], o.path);
  const child = spawn(argv[0], argv.slice(1), { stdio: o.stdio ?? ["ignore", "inherit", "inherit"], env: o.env, cwd: o.cwd });
  try {
    await waitStopped(child);
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  return child;
}

/** Runs the stopped command on. */
export function release(child: ChildProcess): void {
  try { process.kill(child.pid!, "SIGCONT"); } catch { /* gone */ }
}

/** The stopped command must not run untraced (its tracer failed): killed, and continued so that it dies now. */
export function killStopped(child: ChildProcess): void {
  try { process.kill(child.pid!, "SIGKILL"); process.kill(child.pid!, "SIGCONT"); } catch { /* gone */ }
}

/** setpriv's arguments that run the rest as the account. */
export function userArgs(a: Account): string[] {
  return ["setpriv", `--reuid=${a.uid}`, `--regid=${a.gid}`, "--init-groups", "--"];
}

/** A backend's command, started stopped in the run's cgroup. */
export interface StoppedCommand {
  child: ChildProcess;
  /** --user: its session (a pty of its own when ours is a terminal), ended once the command has. */
  session?: Session;
  /** When it has ended, and how. */
  done: Promise<ProcStatus>;
  /** Why it could not be spawned, if it could not. */
  spawnError(): Error | undefined;
}

/**
 * A backend's launched target (a command, podman run), started stopped, for a tracer that attaches by
 * pid before the command's first instruction: resolves once it is stopped, or throws a NotStarted.
 * The launcher (perl, not a shell: bash would read startup files when its stdin is a socket, and shells
 * add to the environment) stops itself, then execs the program found on PATH with the command's exact
 * bytes; with --user, a first one gives it a session of its own and closes root's other descriptors
 * before setpriv switches the user; should trace-run die meanwhile, the watchman kills what is in the
 * run's cgroup.
 */
export async function startStopped(s: Start): Promise<StoppedCommand> {
  const stopper = launcherArgv(s.command, ["stop"], s.path);
  const session = s.account ? new Session([0, s.stdoutFd, 2]) : undefined;
  const argv = s.meter!.wrap(s.account ? launcherArgv([...userArgs(s.account), ...stopper], session!.opts) : stopper);
  const child = spawn(argv[0], argv.slice(1), { stdio: session?.stdio ?? ["inherit", s.stdoutFd, "inherit"], env: s.env, detached: session !== undefined });
  session?.start();
  const done = new Promise<ProcStatus>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  let spawnError: Error | undefined;
  child.on("error", (e) => { spawnError = e; });
  try {
    await waitStopped(child);
  } catch (e) {
    // one that did not stop in time would stop later, with no one to continue it (and trace-run
    // waiting for it): it is killed, and gone before the run says it did not start
    killStopped(child);
    await done;
    await session?.end();
    throw new NotStarted((e as Error).message, e);
  }
  return { child, session, done, spawnError: () => spawnError };
}
