// trace-run --backend ebpf: the batched eBPF loader (dist/leastpriv-bpf) reports the calls from the
// kernel through a ring buffer drained on a timer; the same three targets as bpftrace (a command started
// stopped, docker run by the new cgroup's path, --container by its cgroup), the same scope.

import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loaderUnavailable, startLoader, type Loader, type LoaderOptions, type LoaderTarget } from "../bpf/start.js";
import { checkLoader } from "../bpf/check.js";
import { RingReader, RING_FORMAT } from "../bpf/ring-reader.js";
import { cgroup2Root } from "./cost.js";
import { UserError } from "../errors.js";
import { EXIT_RUN_FAILED, alive, type ProcStatus } from "./session.js";
import { NotStarted, type Backend, type CaptureOptions, type Start, type Tracer, type Tracing } from "./backend.js";
import { launches, type Target } from "./target.js";
import { BpfScope, cgroupOf, inspect, treeEnd } from "./bpftrace.js";
import { killStopped, release, startStopped } from "./stopped.js";
import { CALL_TABLE } from "../bpf/program.js";

/** The loader is built with the package: its version is the package's, and the frame format it writes. */
function loaderVersion(): string {
  const pkg = fileURLToPath(new URL(import.meta.url.includes("/dist/") ? "../../../package.json" : "../../package.json", import.meta.url));
  const v = existsSync(pkg) ? (JSON.parse(readFileSync(pkg, "utf8")) as { version?: string }).version : undefined;
  return `${v ?? "unknown"} (frame format ${RING_FORMAT}, call table ${CALL_TABLE})`;
}

export const ebpf: Backend = {
  name: "ebpf",
  usage: "trace-run --backend ebpf [OPTIONS] -- COMMAND [ARGS...]",
  targets: ["command", "podman-run", "docker-run", "container"],
  takes: ["raw"],
  output: "the eBPF loader's frames",
  meteredSource: "cgroup of the run: CPU and peak memory of the traced processes (the eBPF loader runs outside it); the memory counts the page cache the run filled",
  version: () => {
    // it loads programs into the kernel: without root there is nothing to probe
    if (process.getuid?.() !== 0) throw new UserError("the ebpf backend needs root (its loader loads programs into the kernel)", EXIT_RUN_FAILED);
    const why = loaderUnavailable();
    if (why) throw new UserError(why, EXIT_RUN_FAILED);
    // the kernel may still refuse the program (no CAP_BPF in a container, no BTF, an older verifier):
    // found before anything starts, so that auto passes over it; a bad ring size is preflight's to say
    let ringMb: number | undefined;
    try { ringMb = ringOptions().loader.ringMb; } catch { /* said by preflight */ }
    const no = checkLoader({ ringMb });
    if (no) throw new UserError(`the eBPF loader cannot load its program here: ${no.why}`, EXIT_RUN_FAILED);
    return loaderVersion();
  },
  preflight: (target) => {
    const running = target.kind === "container" ? inspect(target.name) : undefined;
    const cg = running ? cgroupOf(running.pid) : undefined;
    if (target.kind === "docker-run" && !cgroup2Root()) throw new UserError("no cgroup v2 hierarchy is mounted: the ebpf backend finds containers by their cgroup v2 id", EXIT_RUN_FAILED);
    return new EbpfTracer(target, ringOptions(), running && cg ? { id: running.id, cg } : undefined);
  },
};

/** The ring's size and drain, and what the loader may hold, from the environment (for measuring, and
 *  for a test that fills them), and the priority the records are read at (LEASTPRIV_EBPF_READER). */
function ringOptions(): { loader: Pick<LoaderOptions, "ringMb" | "holdMb" | "batchMs" | "tickMs" | "wakeMark">; idleReader: boolean } {
  const num = (name: string, power2 = false, most = 2 ** 31 - 1, least = 1) => {
    const v = process.env[name];
    if (v === undefined || v === "") return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < least || n > most || (power2 && (n & (n - 1)) !== 0)) {
      throw new UserError(`${name} wants a ${least ? "positive " : ""}whole number${power2 ? " that is a power of 2" : ""}${most < 2 ** 31 - 1 ? ` of at most ${most}` : ""}, not '${v}'`, EXIT_RUN_FAILED);
    }
    return n;
  };
  const reader = process.env.LEASTPRIV_EBPF_READER ?? "";
  if (reader !== "" && reader !== "idle" && reader !== "normal") throw new UserError(`LEASTPRIV_EBPF_READER wants idle or normal, not '${reader}'`, EXIT_RUN_FAILED);
  const loader = { ringMb: num("LEASTPRIV_EBPF_RING_MB", true), holdMb: num("LEASTPRIV_EBPF_HOLD_MB", false, 65536),
    batchMs: num("LEASTPRIV_EBPF_BATCH_MS", false, 2 ** 31 - 1, 0), tickMs: num("LEASTPRIV_EBPF_TICK_MS"), wakeMark: num("LEASTPRIV_EBPF_WAKE_MARK") };
  return { loader, idleReader: reader !== "normal" };
}

type Running = { id: string; cg: { path: string; dir: string; id: number } };

class EbpfTracer implements Tracer {
  constructor(private readonly target: Target, private readonly ring: ReturnType<typeof ringOptions>, private readonly running?: Running) {}

  prepare() {
    return this.running ? { container: this.running.id, cgroup: this.running.cg.path } : {};
  }

  async start(s: Start): Promise<Tracing> {
    const t = this.target;
    const cg = this.running?.cg;
    const marks = s.marks;
    // a command: started stopped, and continued (to exec the command in its place) once the probes are in
    const launched = launches(t) ? await startStopped(s) : undefined;
    const child = launched?.child;
    const childDone = launched?.done;

    const mode = t.kind === "container" ? 2 : t.kind === "docker-run" ? 3 : 1;
    const lt: LoaderTarget = mode === 1 ? { tree: child!.pid!, cwd: s.cwd } : mode === 2 ? { cgroup: cg!.id } : { newCgroups: true };
    let loader: Loader;
    try {
      loader = startLoader(lt, {
        onStderr: (l) => { if (l.trim()) s.tell.warn(`ebpf: ${l}`); },
        readyTimeoutMs: 120000,
        ...this.ring.loader,
      });
    } catch (e) {
      if (child) killStopped(child);
      await launched?.session?.end();
      throw new NotStarted((e as Error).message, e);
    }
    s.watchman.kill(loader.child.pid);
    let childStatus: ProcStatus | undefined;
    childDone?.then((st) => { childStatus = st; });
    const tree = () => child ? [...new Set([...(s.meter?.procs() ?? []), ...reader.livePids().filter(alive), ...(childStatus ? [] : [child.pid!])])] : [];
    let stopping = false;
    let began = false;
    let readyError: Error | undefined;
    const loaderDone = loader.done.then((st) => {
      // the loader ended before we asked it to: the rest of the run would go unseen, so it is stopped
      if (!stopping && began) s.died(`the eBPF loader ${st.signal ? "killed by " + st.signal : "exited with " + st.code}`, tree);
      return st;
    });

    const scope = new BpfScope(mode, this.running?.id, s.cidNow, cg?.dir);
    const reader: RingReader = new RingReader((rec, cgroup) => {
      const r = mode !== 1 ? scope.scope(rec, cgroup, reader.cgroups) : marks ? marks.mark(rec, s.cidNow()) : rec;
      if (r) s.emit(r);
    }, { cwd: mode === 1 ? s.cwd : undefined, file: "leastpriv-bpf" });
    reader.onFork = (parent, kid) => { scope.forked(parent, kid); marks?.forked(parent, kid); };

    let stopTimer: NodeJS.Timeout | undefined;
    const stopLoader = (delay: number) => {
      if (stopping) return;
      stopping = true;
      // the loader ends on SIGINT after draining the ring; should it not, it is killed a moment later
      stopTimer = setTimeout(() => {
        loader.stop();
        stopTimer = setTimeout(() => loader.child.kill("SIGKILL"), 5000);
      }, delay);
    };
    let interrupted: NodeJS.Signals | undefined;
    const begin = () => {
      if (began || stopping) return;
      began = true;
      if (child) release(child);
      s.begin();
      // (after the command is started: what trace-run starts from now on is bookkeeping)
      if (this.ring.idleReader) loader.idleReader();
    };
    loader.ready.then(begin, (e: Error) => { readyError = e; });

    let lastData = Date.now();
    const poll = setInterval(() => {
      // (the ring may still hold a backlog when the tree is gone: the end is when its exits are read)
      if (mode === 1 && childStatus && reader.ready && treeEnd(reader.livePids(), Date.now() - lastData)) stopLoader(0);
      if (mode === 2 && !existsSync(cg!.dir)) stopLoader(200);
    }, 50);

    return {
      reader,
      output: loader.output!,
      scope: mode !== 1 ? scope : undefined,
      tree,
      began: () => began,
      afterChunk: () => { lastData = Date.now(); },
      stop: (why) => stopLoader(why === "client" ? 500 : why === "raw" && child ? 1000 : 0),
      signal: (sig) => {
        if (!began) interrupted ??= sig;
        stopLoader(0);
      },
      finish: async () => {
        clearInterval(poll);
        if (stopTimer) clearTimeout(stopTimer);
        await loaderDone;
        // the loader failed before it was ready: the stopped command must not run untraced
        if (!began && child) killStopped(child);
        const status = childDone ? await childDone : { code: 0, signal: null };
        await launched?.session?.end();
        reader.end();
        let failure: UserError | number | undefined;
        if (launched?.spawnError()) failure = new UserError(`cannot run the command: ${launched.spawnError()!.message}`, EXIT_RUN_FAILED);
        else if (!began && s.writer.error) failure = EXIT_RUN_FAILED;
        else if (!began && interrupted) failure = new UserError(`interrupted (${interrupted}) before the eBPF loader was ready: the command did not run`, EXIT_RUN_FAILED);
        else if (!began) failure = new UserError(readyError?.message ?? "the eBPF loader did not start", EXIT_RUN_FAILED);
        // the session counts the frames lost as `events`; the other kinds are said beside them
        const kinds = Object.entries(reader.lostKinds).filter(([k, n]) => k !== "events" && n > 0);
        const lostKinds = kinds.length ? Object.fromEntries(kinds) : undefined;
        return {
          status, started: began,
          notStarted: interrupted ? `interrupted (${interrupted}) before the trace began` : "the eBPF loader did not start",
          ended: mode === 2 ? (existsSync(cg!.dir) ? "running" : "exited") : undefined,
          lost: reader.lost, lostKinds, failure,
        };
      },
    };
  }
}
