// A command started stopped (the launcher stops itself, then execs the command on SIGCONT), so that a
// tracer can be attached to its pid before its first instruction, and let go once it is.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { UserError } from "../errors.js";
import { launcherArgv } from "./launch.js";
import { EXIT_RUN_FAILED } from "./session.js";

/** A command started stopped (the launcher stops itself, then execs it on SIGCONT), so that its pid can
 *  be traced from its first instruction: resolves once it is stopped. */
export async function launchStopped(command: string[], o: { path?: string; stdio?: ("inherit" | "ignore" | "pipe" | number)[]; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ChildProcess> {
  const argv = launcherArgv(command, ["stop"], o.path);
  const child = spawn(argv[0], argv.slice(1), { stdio: o.stdio ?? ["ignore", "inherit", "inherit"], env: o.env, cwd: o.cwd });
  for (let i = 0; i < 1000; i++) {
    if (child.exitCode !== null || child.signalCode !== null) throw new UserError("the command ended before it could be traced", EXIT_RUN_FAILED);
    try {
      const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "T") return child;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill("SIGKILL");
  throw new UserError("the command did not stop for the tracer within 5 s", EXIT_RUN_FAILED);
}

/** Runs the stopped command on. */
export function release(child: ChildProcess): void {
  try { process.kill(child.pid!, "SIGCONT"); } catch { /* gone */ }
}
