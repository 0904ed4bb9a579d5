// The backends trace-run knows, by the name --backend gives, and what each takes of trace-run's options:
// a new tracer is one Backend (see backend.ts) listed here, with the reader of what it prints.

import type { Backend, Capability } from "./backend.js";
import { strace } from "./strace.js";
import { bpftrace } from "./bpftrace.js";
import { ebpf } from "./ebpf.js";

/** In --help's order; the first is the default. */
export const BACKENDS: readonly Backend[] = [strace, bpftrace, ebpf];

export function backendNamed(name: string): Backend {
  const b = BACKENDS.find((x) => x.name === name);
  if (!b) throw new Error(`no backend named ${name}`);     // --backend's choices come from BACKENDS
  return b;
}

/** What a command line asks of a backend beyond a command: a target (-p, --container) or a Capability. */
export type Wanted = "pid" | "container" | Capability;

/** The options of trace-run's command line that not every backend takes. */
export interface Asked {
  pid?: number[];
  container?: string;
  cost?: boolean;
  allSyscalls?: boolean;
  straceArgs?: string[];
  raw?: string;
}

export function wanted(o: Asked): Wanted[] {
  const w: Wanted[] = [];
  if (o.pid !== undefined) w.push("pid");
  if (o.container !== undefined) w.push("container");
  if (o.cost) w.push("cost");
  if (o.allSyscalls) w.push("all-syscalls");
  if (o.straceArgs !== undefined) w.push("strace-arg");
  if (o.raw !== undefined) w.push("raw");
  return w;
}

export function takes(b: Backend, w: Wanted): boolean {
  if (w === "pid") return b.targets.includes("pids");
  if (w === "container") return b.targets.includes("container");
  return b.takes.includes(w);
}

const flag = (w: Wanted) => (w === "pid" ? "-p" : `--${w}`);
const takers = (w: Wanted) => BACKENDS.filter((b) => takes(b, w)).map((b) => b.name).join(" or ");

/** Why `b` cannot do what is wanted (said of the first option it does not take); undefined when it can. */
export function refusal(b: Backend, want: Wanted[]): string | undefined {
  const w = want.find((x) => !takes(b, x));
  if (w === undefined) return undefined;
  const by = takers(w);
  switch (w) {
    case "pid": return `--pid is for the ${by} backend` + (takes(b, "container") ? ` (with ${b.name}, trace a container with --container)` : "");
    case "container": return `--container needs --backend ${by}` + (takes(b, "pid") ? ` (with ${b.name}, attach to a process with -p)` : "");
    case "cost": return `--cost counts bytes by tracing reads and writes, which only the ${by} backend does (the ${b.name} backend measures CPU and memory without it)`;
    case "raw": return `--raw keeps what trace-parse reads, and it does not read ${b.output}: use --backend ${by} for --raw`;
    default: return `--${w} is for the ${by} backend`;
  }
}

/** The usage error of `--backend asked` with these options, found before anything runs; undefined when there is none. */
export function usageError(asked: string, o: Asked): string | undefined {
  return refusal(backendNamed(asked), wanted(o));
}
