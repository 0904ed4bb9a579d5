// What trace-run traces, told once from its command line: a command it starts, processes it attaches
// to, a docker or podman run (a container started by its client), or a container already running.

import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { UserError } from "../errors.js";
import { encodeBytes } from "../io/bytes.js";
import { dockerRunIndex, podmanRunIndex } from "./container.js";

export type Target =
  | { kind: "command"; argv: string[] }
  | { kind: "podman-run"; argv: string[]; at: number }   // the command's own tree, its runtime marked
  | { kind: "docker-run"; argv: string[]; at: number }   // the client's container, started by the daemon
  | { kind: "pids"; pids: number[] }
  | { kind: "container"; name: string };                 // a running container, by id or name

export type TargetKind = Target["kind"];

/** What a command line asks to trace; `usage` completes "no command given: " when it names nothing. */
export function targetOf(command: string[], o: { pids?: number[]; container?: string }, usage: string): Target {
  if (o.container !== undefined) {
    if (command.length) throw new UserError("--container and a command do not go together", 2);
    return { kind: "container", name: o.container };
  }
  if (o.pids?.length) {
    if (command.length) throw new UserError("-p and a command do not go together", 2);
    return { kind: "pids", pids: o.pids };
  }
  if (command.length === 0) throw new UserError(`no command given: ${usage}`, 2);
  const docker = dockerRunIndex(command);
  if (docker > 0) return { kind: "docker-run", argv: command, at: docker };
  const podman = podmanRunIndex(command);
  if (podman >= 0) return { kind: "podman-run", argv: command, at: podman };
  return { kind: "command", argv: command };
}

/** Whether trace-run starts the traced processes itself: their tree, cgroup and working directory are the run's. */
export function launches(t: Target): t is Extract<Target, { kind: "command" | "podman-run" }> {
  return t.kind === "command" || t.kind === "podman-run";
}

/** The command line a target runs (nothing for processes or a container already there). */
export function argvOf(t: Target): string[] {
  return "argv" in t ? t.argv : [];
}

/** Finds a command the way execvp does; 127 when it is not there, 126 when it cannot be run. */
export function resolveCommand(name: string, path = process.env.PATH ?? "/usr/bin:/bin"): string {
  const candidates = name.includes("/") ? [name] : path.split(delimiter).filter(Boolean).map((d) => join(d, name));
  let denied: string | undefined;
  for (const c of candidates) {
    let st;
    try { st = statSync(encodeBytes(c)); } catch { continue; }
    // root may run anything with an x bit, so the bits are checked as well as access(2)
    if (!st.isFile() || (st.mode & 0o111) === 0) { denied ??= c; continue; }
    try { accessSync(encodeBytes(c), constants.X_OK); return c; } catch { denied ??= c; }
  }
  if (denied) throw new UserError(`${name}: Permission denied`, 126);
  throw new UserError(`${name}: command not found`, 127);
}
