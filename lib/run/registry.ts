// The backends trace-run knows, by the name --backend gives, and how --backend auto picks one of them:
// a new tracer is one Backend (see backend.ts) listed here, with the reader of what it prints.

import type { Backend, Capability } from "./backend.js";
import type { CaptureRequest } from "./capture.js";
import { UserError } from "../errors.js";
import { EXIT_RUN_FAILED } from "./session.js";
import { targetOf } from "./target.js";
import { strace } from "./strace.js";
import { bpftrace } from "./bpftrace.js";
import { ebpf } from "./ebpf.js";

/** In --backend auto's order, the one that costs the traced program least first; --help lists them so. */
export const BACKENDS: readonly Backend[] = [ebpf, bpftrace, strace];

/** --backend's default: the first of BACKENDS that can do what the command line asks, here. */
export const AUTO = "auto";
const AUTO_USAGE = "trace-run [OPTIONS] -- COMMAND [ARGS...]";

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
/** Those of the options wanted that some backend does not take. */
const split = (want: Wanted[]) => want.filter((w) => !BACKENDS.every((b) => takes(b, w)));
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
  const want = wanted(o);
  if (asked !== AUTO) return refusal(backendNamed(asked), want);
  if (BACKENDS.some((b) => refusal(b, want) === undefined)) return undefined;
  const some = split(want);
  return `no backend takes ${some.map(flag).join(" and ")} together (${some.map((w) => `${flag(w)}: ${takers(w)}`).join("; ")})`;
}

/** --backend auto's choice: the backend, the program it runs (--strace, --bpftrace), and for the run record
 *  its version and each backend passed over before it, with why. */
export interface AutoChoice {
  backend: Backend;
  tracer?: string;
  version: string;
  skipped: { [backend: string]: string };
}

/**
 * --backend auto: the first of BACKENDS that traces the target, takes every option given, and can run
 * here (its version() says so without starting anything); `program` is each backend's own program
 * option. When none can, a UserError saying why each that could have done it cannot run.
 */
export function chooseAuto(o: CaptureRequest, program: (b: Backend) => string | undefined): AutoChoice {
  // a command line that names no target (or two) is a usage error whichever backend would run it
  const kind = targetOf(o.command, { pids: o.pid, container: o.container }, AUTO_USAGE).kind;
  const want = wanted(o);
  const skipped: { [backend: string]: string } = {};
  const cannot: string[] = [];
  for (const b of BACKENDS) {
    const no = want.find((w) => !takes(b, w));
    if (no !== undefined || !b.targets.includes(kind)) {
      skipped[b.name] = no !== undefined ? `it does not take ${flag(no)}` : `it cannot trace a ${kind} target`;
      continue;
    }
    const tracer = program(b);
    try {
      return { backend: b, tracer, version: b.version({ ...o, tracer }), skipped };
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      skipped[b.name] = e.message;
      cannot.push(`${b.name}: ${e.message}`);
    }
  }
  const some = split(want);
  const what = some.length ? `no backend that takes ${some.map(flag).join(" and ")} can run here` : "no backend can run here";
  throw new UserError(`${what} (${cannot.join("; ")})`, EXIT_RUN_FAILED);
}
