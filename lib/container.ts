// Container runs: `docker run` only asks a daemon to start the container, so tracing the client sees
// nothing of it. trace-run attaches to containerd instead and keeps the process tree of this one
// container (the shim started with its id, runc, and what runc starts), leaving the daemons' own
// activity out. Calls made before the container's first program starts (the runtime setting it up)
// are marked `runtime`; calls after pivot_root see the container's file system (`containerPath`).

import { readFileSync, readdirSync } from "node:fs";
import type { TraceRecord } from "./records.js";
import { childPid } from "./resolver.js";

/** `docker run …` / `docker container run …`: the index of the "run" word, or -1. */
export function dockerRunIndex(argv: string[]): number {
  if (argv.length < 2 || !/(^|\/)docker$/.test(argv[0])) return -1;
  let i = 1;
  while (i < argv.length && argv[i].startsWith("-")) i += /^--?(H|host|config|context|log-level|l)$/.test(argv[i]) ? 2 : 1;
  if (argv[i] === "container") i++;
  return argv[i] === "run" ? i : -1;
}

/** The pid of the running containerd (dockerd starts one of its own when none runs as a service). */
export function containerdPid(): number | undefined {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim() === "containerd") return Number(d);
    } catch { /* gone */ }
  }
  return undefined;
}

export class ContainerScope {
  private tree = new Set<number>();
  private pivoted = new Set<number>();
  private app = new Set<number>();
  id: string | undefined;
  dropped = 0;

  constructor(private readonly idOf: () => string | undefined) {}

  /** The record annotated if it belongs to the container, or null for the daemons' own activity. */
  scope(rec: TraceRecord): TraceRecord | null {
    if (rec.type !== "syscall" && rec.type !== "signal" && rec.type !== "exit") return rec;
    const pid = rec.pid;
    if (pid === null) { this.dropped++; return null; }
    if (rec.type === "syscall") {
      if (!this.tree.has(pid) && rec.kind === "exec" && rec.ok && rec.argv) {
        const k = rec.argv.indexOf("-id");
        const id = k >= 0 ? rec.argv[k + 1] : undefined;
        // the client writes its --cidfile before it asks for the start, so the file names our container
        // by the time its shim runs; until then a shim is another container's (one starting, or the
        // cleanup of one that just ended)
        const want = this.idOf();
        if (id !== undefined && want === id) { this.id = id; this.tree.add(pid); }
      }
      if (!this.tree.has(pid)) { this.dropped++; return null; }
      const child = rec.kind === "proc" && rec.op === "fork" && rec.ok ? childPid(rec) : undefined;
      if (child !== undefined) {
        this.tree.add(child);
        if (this.pivoted.has(pid)) this.pivoted.add(child);
        if (this.app.has(pid)) this.app.add(child);
      }
      if (rec.syscall === "pivot_root" && rec.ok) this.pivoted.add(pid);
      if (rec.kind === "exec" && rec.ok && this.pivoted.has(pid)) this.app.add(pid);
    } else if (!this.tree.has(pid)) { this.dropped++; return null; }
    const out = rec as TraceRecord & { container?: string; runtime?: boolean; containerPath?: boolean };
    out.container = this.id;
    // the exec that starts the container's program is the first call of the application
    if (!this.app.has(pid)) out.runtime = true;
    if (this.pivoted.has(pid) && rec.type === "syscall" && rec.path !== undefined) out.containerPath = true;
    return out;
  }
}
