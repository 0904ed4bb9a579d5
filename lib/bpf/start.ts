// Starting the batched eBPF loader (dist/leastpriv-bpf, built by bpf/build.mjs) for a process tree, a
// cgroup or the cgroups made from now on; the command it traces is started stopped by run/stopped.ts.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { PassThrough, type Readable } from "node:stream";
import { fileURLToPath } from "node:url";

// dist/lib/bpf/ when built; lib/bpf/ when a test runs the source: the loader is in dist/ either way
const UP = fileURLToPath(new URL("../../", import.meta.url));
const DIST = UP.endsWith("/dist/") ? UP : UP + "dist/";
/** The loader, as npm run build left it. */
export const LOADER = DIST + "leastpriv-bpf";
/** Its checks that passed this boot (lib/bpf/check.ts); a new build starts without. */
export const PASSED = DIST + "bpf/checked";

/** The loader could not be started or did not become ready; `message` is one line. */
export class BpfLoaderError extends Error {}

/** Why the loader cannot run here, in one line (what to install), or undefined when it can. */
export function loaderUnavailable(loader = LOADER): string | undefined {
  if (existsSync(loader)) return undefined;
  const note = DIST + "bpf/unavailable";
  if (existsSync(note)) return "the eBPF backend was not built: " + readFileSync(note, "utf8").trim();
  return `the eBPF backend was not built (${loader} is missing): run npm run build`;
}

export type LoaderTarget = { tree: number; cwd?: string } | { cgroup: number } | { newCgroups: true };

export interface LoaderOptions {
  loader?: string;
  tickMs?: number;
  ringMb?: number;
  /** How many MiB of frames the loader may hold while its reader is behind (default: a sixteenth of
   *  the machine's memory, from 16 to 256). */
  holdMb?: number;
  /** How long a frame may wait in the loader before it is written (default 1000 ms; 0: at each drain).
   *  The loader writes at once from when a tree's first process has exited. */
  batchMs?: number;
  /** Bytes waiting in the ring past which the kernel side wakes the loader early (default: a quarter). */
  wakeMark?: number;
  /** The kernel's run-time statistics of each probe, said on stderr at the end (for the benchmarks). */
  stats?: boolean;
  /** Where an exec's strings are read: the loader picks sched_prepare_exec where the kernel has it;
   *  "entry" is what an older kernel gets (sys_enter), for the tests. */
  execProbe?: "prepare" | "entry";
  /** Each chunk of the loader's stdout, in order (its frames: bpf/events.h), taken as it comes.
   *  Without it the chunks are read from `output`, only as fast as they are taken there. */
  onData?: (chunk: Buffer) => void;
  /** Each line the loader says on stderr. */
  onStderr?: (line: string) => void;
  /** How long the loader may take to attach. */
  readyTimeoutMs?: number;
}

export interface Loader {
  child: ChildProcess;
  /** Resolves once the ready frame has been read (every probe is attached); rejects with the loader's
   *  own reason when it ended first or took too long. */
  ready: Promise<void>;
  /** Ends the trace: the loader detaches, drains what is left, writes its end frame and exits. */
  stop(): void;
  /** The traced command runs: this process, the loader's reader, may go to idle priority while it
   *  keeps up (the loader raises it again when it falls behind, and sets it back at its end). Only
   *  once ready: before that the signal would end the loader. */
  idleReader(): void;
  /** The loader's end, after its stdout was read to its end. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The loader's stdout (when no onData was given), ended with it. It holds about OUTPUT_HOLD bytes
   *  not yet read (and a chunk of the pipe's): past that nothing more is read from the loader, which
   *  holds the backlog itself (up to holdMb) and raises a reader at idle priority when it must wait. */
  output?: Readable;
}

/** What `output` holds unread before the loader's pipe is no longer read. */
export const OUTPUT_HOLD = 1 << 20;

export function loaderArgs(target: LoaderTarget, o: { tickMs?: number; ringMb?: number; holdMb?: number; batchMs?: number; wakeMark?: number; stats?: boolean; execProbe?: "prepare" | "entry" } = {}): string[] {
  const opts: string[] = [];
  if (o.execProbe) opts.push("--exec-probe", o.execProbe);
  if (o.wakeMark !== undefined) opts.push("--wake-mark", String(o.wakeMark));
  if (o.stats) opts.push("--stats", "1");
  if (o.tickMs !== undefined) opts.push("--tick-ms", String(o.tickMs));
  if (o.holdMb !== undefined) opts.push("--hold-mb", String(o.holdMb));
  if (o.batchMs !== undefined) opts.push("--batch-ms", String(o.batchMs));
  if (o.ringMb !== undefined) opts.push("--ring-mb", String(o.ringMb));
  if ("tree" in target) return [...opts, "1", String(target.tree), target.cwd ?? ""];
  if ("cgroup" in target) return [...opts, "2", String(target.cgroup)];
  return [...opts, "3", "0"];
}

export function startLoader(target: LoaderTarget, o: LoaderOptions): Loader {
  const loader = o.loader ?? LOADER;
  const why = o.loader ? undefined : loaderUnavailable(loader);
  if (why) throw new BpfLoaderError(why);
  const child = spawn(loader, loaderArgs(target, o), { stdio: ["ignore", "pipe", "pipe"] });
  let said = "";
  let errText = "";
  child.stderr!.on("data", (d: Buffer) => {
    errText += d.toString();
    const lines = errText.split("\n");
    errText = lines.pop()!;
    for (const l of lines) {
      // (libbpf's own lines come too with LEASTPRIV_DEBUG set): the loader's own line, last, is the reason
      if (l.startsWith("leastpriv-bpf:")) said = l;
      o.onStderr?.(l);
    }
  });
  let isReady = false;
  let head = Buffer.alloc(0);
  let resolveReady!: () => void, rejectReady!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => { resolveReady = res; rejectReady = rej; });
  ready.catch(() => { /* the caller is told through its own await */ });
  const timer = setTimeout(() => {
    if (!isReady) { rejectReady(new BpfLoaderError(`the eBPF loader did not attach within ${(o.readyTimeoutMs ?? 30000) / 1000} s`)); child.kill("SIGKILL"); }
  }, o.readyTimeoutMs ?? 30000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on("close", (code, signal) => res({ code, signal })));
  child.on("error", (e) => { clearTimeout(timer); rejectReady(new BpfLoaderError(`cannot run ${loader}: ${e.message}`)); });
  child.stdout!.on("data", (chunk: Buffer) => {
    if (!isReady) {
      // the first frame is the ready frame: once it is whole, every probe is attached
      head = Buffer.concat([head, chunk]);
      if (head.length >= 8 && head.length >= 4 + head.readUInt32LE(0)) {
        isReady = true;
        clearTimeout(timer);
        if (head[4] !== 82) rejectReady(new BpfLoaderError("the eBPF loader's first frame is not its ready frame"));
        else resolveReady();
      }
    }
    o.onData?.(chunk);
  });
  // (a stream's write past its mark pauses the pipe until it drains: the backlog stays in the loader,
  // not in this process, whose memory would grow with it)
  let output: PassThrough | undefined;
  if (!o.onData) child.stdout!.pipe(output = new PassThrough({ readableHighWaterMark: OUTPUT_HOLD / 2, writableHighWaterMark: OUTPUT_HOLD / 2 }));
  const done = exited.then((s) => {
    clearTimeout(timer);
    if (!isReady) {
      const how = s.signal ? `killed by ${s.signal}` : `exit ${s.code}`;
      rejectReady(new BpfLoaderError(said ? `${said.replace(/^leastpriv-bpf: /, "the eBPF loader: ")} (${how})` : `the eBPF loader ended before it was ready (${how})`));
    }
    return s;
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child, ready, done, output,
    stop: () => { if (running()) child.kill("SIGINT"); },
    idleReader: () => { if (isReady && running()) child.kill("SIGUSR1"); },
  };
}
