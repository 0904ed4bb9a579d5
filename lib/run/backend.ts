// What a tracer brings to trace-run's capture session: its version, its checks, how it starts on a
// target, and the reader and scope of what it prints. The session (capture.ts) does all the rest.

import type { Account } from "./launch.js";
import type { CostMeter } from "./cost.js";
import type { RuntimeMarks } from "./container.js";
import type { RecordWriter } from "../io/output.js";
import type { EndRecord, RunRecord, TraceRecord } from "../io/records.js";
import type { TraceReader } from "../trace/reader.js";
import type { Tell, UserError } from "../errors.js";
import type { ProcStatus, Watchman } from "./session.js";
import type { Target, TargetKind } from "./target.js";

/** trace-run's options, as its command line gave them; a backend reads those that are its own. */
export interface CaptureOptions {
  user?: string;
  preserveEnv?: string[];     // with user: variables passed on besides the reset environment
  stdout?: string;            // file for the command's stdout; default: our stderr
  raw?: string;               // also keep the tracer's own output here
  cost?: boolean;
  tracer?: string;            // the tracer's program (--strace, --bpftrace)
  allSyscalls?: boolean;      // strace's
  straceArgs?: string[];      // strace's
  containerdPid?: number;     // strace's docker run: attach here (found when not given)
}

/** Those of trace-run's options that not every backend takes (-p and --container are targets: see
 *  `targets`). --backend auto picks the first backend that takes every one given. */
export type Capability = "cost" | "all-syscalls" | "strace-arg" | "raw";

export interface Backend {
  /** --backend NAME, and the run record's `tracer`. */
  readonly name: string;
  /** Said after "no command given: ". */
  readonly usage: string;
  /** The targets it can trace (a "pids" target is -p, a "container" one --container). */
  readonly targets: readonly TargetKind[];
  /** The options of Capability it takes; the others are refused before anything runs. */
  readonly takes: readonly Capability[];
  /** What it prints, as a refusal of --raw names it ("the eBPF loader's frames"). */
  readonly output: string;
  /** Said after "the traced processes were killed" when the tracer died under them. */
  readonly killedNote?: string;
  /** The cost record's `source` when a command's cgroup was measured (default: the meter's). */
  readonly meteredSource?: string;
  /** The tracer's version, for the run record; a UserError when it cannot be run here at all (not root, not
   *  installed, not built): how --backend auto tells whether it can run, so it only asks, and starts nothing. */
  version(o: CaptureOptions): string;
  /** Checks made before anything is started; the tracer of this run. */
  preflight(target: Target, o: CaptureOptions): Tracer;
}

export interface Tracer {
  /** Makes what the tracer needs in the run's directory (before the stream begins); the run record's own fields. */
  prepare(dir: string): Partial<RunRecord>;
  /** Starts the tracer (and the command, for a target the run launches). A NotStarted when nothing ran. */
  start(s: Start): Promise<Tracing>;
}

/** What the session hands a tracer's start. */
export interface Start {
  target: Target;
  command: string[];                  // what to run (podman run with the run's --cidfile)
  path?: string;                      // command[0] as PATH found it
  marks?: RuntimeMarks;               // podman run: the runtime's processes, marked
  cwd: string;
  dir: string;                        // the run's temporary directory
  env?: Record<string, string>;       // --user: the command's environment
  account?: Account;                  // --user, for a target the run launches
  stdoutFd: number;                   // the command's stdout
  meter?: CostMeter;                  // a launched command: its cgroup
  watchman: Watchman;
  writer: RecordWriter;
  tell: Tell;
  cidNow: (now?: boolean) => string | undefined;   // the container's id, once its client wrote it
  /** A record for the stream, after the backend's scope. */
  emit(r: TraceRecord): void;
  /** The probes are in place: the docker client may start. */
  begin(): void;
  /** The tracer ended before it was asked to: the trace is cut short (`why`); what is left of `tree` is killed. */
  died(why: string, tree: () => number[]): void;
}

/** A started trace, as the session drives it. */
export interface Tracing {
  reader: TraceReader;
  /** The tracer's output, fed to the reader chunk by chunk, until it ends. */
  output: AsyncIterable<Buffer>;
  /** Which records a container run keeps: its id once known, and the calls dropped as not its own. */
  scope?: { readonly id: string | undefined; readonly dropped: number };
  /** The processes of a launched command now (empty: nothing of the run's own to signal or end). */
  tree(): number[];
  /** Whether the command has been let go (a backend that holds it stopped until the probes are in). */
  began(): boolean;
  /** After each chunk fed to the reader. */
  afterChunk(): void;
  /** The session wants the trace to end: the reader went away, --raw failed, or the docker client is done. */
  stop(why: "reader" | "raw" | "client"): void;
  /** A signal trace-run received, when there is neither a docker client nor a tree of ours to pass it to. */
  signal(sig: NodeJS.Signals): void;
  /** After the output ended: waits for the tracer (and the command), ends the reader, tells how it went. */
  finish(st: { killedTree: boolean; signalled: boolean; tracerDied?: string }): Promise<Outcome>;
}

export interface Outcome {
  status: ProcStatus;                 // the command's (the session takes the docker client's instead)
  started: boolean;
  notStarted?: string;                // when not started: why, for `incomplete`
  detached?: boolean;                 // the tracer let go of processes it attached to
  tracerDied?: string;                // found at the end: the tracer's own death
  ended?: EndRecord["ended"];         // instead of what the statuses tell (a running container)
  lost?: number;                      // a tracer that can lose events: how many it lost
  lostKinds?: { [kind: string]: number };
  warnings?: string[];                // said before the session's own
  failure?: UserError | number;       // thrown, or returned as trace-run's status, after the end record
}

/** The target never ran: the session writes a "not-started" end saying `reason`, then throws `error`. */
export class NotStarted extends Error {
  constructor(readonly reason: string, readonly error: unknown) { super(reason); }
}
