// trace-run's one capture session: a Target traced by a Backend. It probes the tracer, writes the run
// record, opens --stdout and --raw, starts the docker client, passes signals on, reads the tracer's
// output into records, and writes the end record; the backend only spawns and knows its tracer's flags.

import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, createWriteStream, openSync, rmSync, type WriteStream } from "node:fs";
import { hostname, release, userInfo } from "node:os";
import { join } from "node:path";
import { cidReader, podmanRun, stillRunning, withCidfile } from "./container.js";
import { CostMeter, type Cost } from "./cost.js";
import { RecordWriter } from "../io/output.js";
import { Feed } from "../trace/reader.js";
import { UserError, type Tell } from "../errors.js";
import { account, launcherArgv, userEnvironment } from "./launch.js";
import { RECORD_VERSION, type Json, type RunRecord, type TraceRecord } from "../io/records.js";
import { EXIT_RUN_FAILED, Watchman, endFields, endTree, exitCodeOf, runDir, writeFailure, type ProcStatus } from "./session.js";
import { NotStarted, type Backend, type CaptureOptions, type Tracing } from "./backend.js";
import { argvOf, launches, resolveCommand, targetOf } from "./target.js";

/** Said when the container's program outlived the client (docker run -d, or a client that was stopped). */
export const DETACHED = "the container was still running when its client returned (docker run -d?): it is traced only until then; " +
  "to follow a running container, use --backend bpftrace --container ID";

export interface CaptureRequest extends CaptureOptions {
  command: string[];
  pid?: number[];
  container?: string;         // a running container's id or name
  /** --backend auto chose the backend: the version it had of it, and the backends it passed over, with why. */
  auto?: { version: string; skipped: { [backend: string]: string } };
}

export async function capture(tell: Tell, backend: Backend, o: CaptureRequest, writer = new RecordWriter()): Promise<number> {
  const version = o.auto?.version ?? backend.version(o);
  const target = targetOf(o.command, { pids: o.pid, container: o.container }, backend.usage);
  if (!backend.targets.includes(target.kind)) throw new UserError(`the ${backend.name} backend cannot trace a ${target.kind} target`, 2);
  if (o.user && (target.kind === "docker-run" || target.kind === "container")) {
    throw new UserError(`--user does not apply to ${target.kind === "docker-run" ? "docker run" : "containers"} (use docker run --user)`, 2);
  }
  // --user: the command's environment is the user's, reset as sudo does; its PATH finds the command
  const acct = o.user && launches(target) ? account(o.user) : undefined;
  const env = acct ? userEnvironment(acct, o.preserveEnv) : undefined;
  const argv = argvOf(target);
  const path = argv.length ? resolveCommand(argv[0], env?.PATH) : undefined;
  const tracer = backend.preflight(target, o);

  const dir = runDir();
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  let own: Partial<RunRecord>;
  try { own = tracer.prepare(dir); } catch (e) { cleanup(); throw e; }
  const cidFile = join(dir, "cid");
  // podman run: no daemon, the container is the command's own process tree, its runtime marked
  const { command, marks } = target.kind === "podman-run" ? podmanRun(argv, o.user, cidFile) : { command: argv, marks: undefined };
  const start = Date.now() / 1000;
  const cwd = process.cwd();
  const me = userInfo();
  const run: RunRecord = {
    type: "run", v: RECORD_VERSION, tracer: backend.name, tracerVersion: version,
    // what --backend asked: auto, or the backend by name
    backend: o.auto ? "auto" : backend.name, ...(o.auto && Object.keys(o.auto.skipped).length ? { skipped: o.auto.skipped } : {}),
    argv,
    // an attached process or a container has a working directory of its own, which the trace tells
    ...(launches(target) ? { cwd } : {}),
    uid: me.uid, user: o.user ?? me.username, host: hostname(), kernel: release(), start, ...own,
  };
  // the files are opened before the header: a stream is never begun for a run that cannot start
  let stdoutFd = 2;
  if (o.stdout) {
    try { stdoutFd = openSync(o.stdout, "w"); } catch (e) { cleanup(); throw new UserError(`--stdout ${o.stdout}: ${writeFailure(e as NodeJS.ErrnoException)}`, EXIT_RUN_FAILED); }
  }
  const closeStdout = () => { if (stdoutFd !== 2) closeSync(stdoutFd); };
  let rawFd: number | undefined;
  if (o.raw) {
    try { rawFd = openSync(o.raw, "w"); } catch (e) {
      cleanup(); closeStdout();
      throw new UserError(`--raw ${o.raw}: ${writeFailure(e as NodeJS.ErrnoException)}`, EXIT_RUN_FAILED);
    }
  }
  writer.write(run);
  await writer.flush();

  // the CPU and memory of a command we start are measured in a cgroup of its own (not for attached processes)
  const meter = launches(target) ? new CostMeter() : undefined;
  // should trace-run die, the watchman ends the tree, then the tracer, and removes what the run made
  const watchman = new Watchman(dir, meter?.cgroups ?? []);
  const cidNow = cidReader(cidFile);
  const st = { killedTree: false, signalled: false, tracerDied: undefined as string | undefined };
  let processes = launches(target) ? 1 : 0;
  let written = 0;
  // docker run: once the probes are in, the client starts with a --cidfile of ours; its status is ours
  let client: ChildProcess | undefined;
  let clientDone: Promise<ProcStatus> | undefined;
  let tracing: Tracing | undefined;
  try {
    tracing = await tracer.start({
      target, command, path, marks, cwd, dir, env, account: acct, stdoutFd, meter, watchman, writer, tell, cidNow,
      emit: (r: TraceRecord) => {
        if (r.type === "syscall" && r.kind === "proc" && r.op === "fork" && r.ok && !r.runtime) processes++;
        written++;
        writer.write(r);
      },
      begin: () => {
        if (target.kind !== "docker-run" || client) return;
        const argv = launcherArgv(withCidfile(target.argv, target.at, cidFile));
        client = spawn(argv[0], argv.slice(1), { stdio: ["inherit", stdoutFd, "inherit"] });
        watchman.term(client.pid);
        clientDone = new Promise((resolve) => client!.on("close", (code, signal) => resolve({ code, signal })));
        clientDone.then(() => tracing?.stop("client"));
      },
      died: (why, tree) => {
        st.tracerDied = why;
        if (tree().length) { st.killedTree = true; endTree(tree, "SIGKILL", 0); }
        client?.kill("SIGTERM");
      },
    });
  } catch (e) {
    meter?.remove(); cleanup(); watchman.dismiss(); closeStdout();
    if (rawFd !== undefined) closeSync(rawFd);
    if (!(e instanceof NotStarted)) throw e;
    // the header is out: the stream says that nothing ran, and why
    const end: TraceRecord = { type: "end", duration: Math.round((Date.now() / 1000 - start) * 1e6) / 1e6,
      ...endFields({ status: { code: EXIT_RUN_FAILED, signal: null }, started: false, incomplete: [e.reason] }, exitCodeOf) };
    writer.write(end);
    await writer.end();
    throw e.error;
  }
  const t = tracing;
  const reader = t.reader;

  let rawError: Error | undefined;
  let stopEscalation: (() => void) | undefined;
  const endOurTree = () => { st.killedTree = true; stopEscalation = endTree(t.tree, "SIGTERM", 500); };
  const raw: WriteStream | undefined = rawFd !== undefined ? createWriteStream("", { fd: rawFd }) : undefined;
  // a --raw file that cannot be written ends the run as trace-run's own failure, the program stopped
  raw?.on("error", (e) => {
    rawError ??= e;
    if (client) client.kill("SIGTERM");
    else if (launches(target)) endOurTree();
    t.stop("raw");
  });

  // signals: the docker client passes them to the container; a launched command's whole tree gets them
  // (as a terminal's ^C reaches its group), and whatever is still there 3 s later is ended; otherwise
  // the backend tells its tracer (strace detaches from attached processes, which go on)
  let killTimer: NodeJS.Timeout | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (client) { client.kill(sig); return; }
    const tree = launches(target) && t.began() ? t.tree() : [];
    if (tree.length) {
      for (const pid of tree) { try { process.kill(pid, sig); } catch { /* already gone */ } }
      st.signalled = true;
      killTimer ??= setTimeout(() => { stopEscalation = endTree(t.tree, "SIGTERM", 500); }, 3000);
      return;
    }
    t.signal(sig);
  };
  const sigs: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of sigs) process.on(s, onSignal);

  const feed = new Feed(reader);
  try {
    let stopping = false;
    for await (const chunk of t.output) {
      if (stopping) continue;       // drain what the tracer still writes, so it never meets a broken pipe
      if (raw && !rawError) raw.write(chunk);
      feed.push(chunk as Buffer);
      t.afterChunk();
      await writer.flush();
      if (writer.closed) {
        // our reader went away (| head): stop what we started; never what we attached to. The tracees
        // end first and the tracer after them (strace killed first would leave them under its filter)
        if (client) client.kill("SIGTERM");
        if (launches(target)) endOurTree();
        t.stop("reader");
        stopping = true;
      }
    }
    feed.close();
  } finally {
    const outcome = await t.finish(st);
    const status = clientDone ? await clientDone : outcome.status;
    for (const s of sigs) process.off(s, onSignal);
    if (killTimer) clearTimeout(killTimer);
    stopEscalation?.();
    cleanup();
    closeStdout();
    await new Promise<void>((r) => (raw && !rawError ? raw.end(r) : r()));
    const tracerDied = st.tracerDied ?? outcome.tracerDied;
    const incomplete: string[] = [];
    if (tracerDied) incomplete.push(tracerDied);
    if (rawError) incomplete.push(`--raw ${o.raw}: ${writeFailure(rawError as NodeJS.ErrnoException)}`);
    if (writer.closed) incomplete.push("reader went away");
    const lost = outcome.lost;
    if (lost !== undefined && lost > 0) incomplete.push(`lost ${lost} events`);
    for (const [kind, n] of Object.entries(outcome.lostKinds ?? {})) if (n > 0) incomplete.push(`lost ${n} ${kind} ${n === 1 ? "piece" : "pieces"}`);
    if (!outcome.started) incomplete.push(outcome.notStarted ?? `${backend.name} did not start`);
    // what the command did is its own status, unless trace-run ended it: then it was killed
    const cmdStatus: ProcStatus = !outcome.started ? { code: EXIT_RUN_FAILED, signal: null }
      : tracerDied && st.killedTree ? { code: null, signal: "SIGKILL" } : status;
    const detached = outcome.detached === true;
    const code = exitCodeOf(cmdStatus);
    const wall = Math.round((Date.now() / 1000 - start) * 1e6) / 1e6;
    // `records` are those written: a kernel backend's reader also reads what its scope leaves out
    // (other containers' calls, for docker run)
    const end: TraceRecord = { type: "end", exit: code, duration: wall, ...reader.counts, records: written };
    if (lost !== undefined) {
      end.lost = lost;
      if (lost || Object.keys(outcome.lostKinds ?? {}).length) end.lostKinds = { events: lost, ...outcome.lostKinds };
    }
    if (meter) {
      const c = meter.finish();
      if (backend.meteredSource && c.source?.startsWith("cgroup")) c.source = backend.meteredSource;
      end.cost = { ...c, processes, wall } as Cost as unknown as Json;
    } else if (target.kind === "docker-run") {
      // the container's processes live in docker's cgroup, and are gone with it (--rm) before we could read it
      end.cost = { processes, wall, source: "docker run: the container's CPU and memory are in docker's cgroup and not measured here" };
    }
    const scope = t.scope;
    const running = target.kind === "docker-run" && stillRunning(target.argv[0], scope?.id);
    Object.assign(end, endFields({ status: cmdStatus, started: outcome.started, detached, running, killedByUs: st.killedTree, incomplete }, exitCodeOf));
    if (detached) delete end.exit;
    if (outcome.ended) end.ended = outcome.ended;
    if (scope) { end.container = scope.id ?? null; end.dropped = scope.dropped; }
    if (marks) end.container = cidNow(true) ?? null;
    // the client gave up before any container started (no such image, a bad option)
    const unseen = target.kind === "docker-run" && scope?.id === undefined;
    if (unseen) { end.ended = "not-started"; end.complete = false; end.incomplete = [...(end.incomplete as string[] ?? []), "no container was seen"]; }
    writer.write(end);
    await writer.end();
    watchman.dismiss();
    if (outcome.failure instanceof UserError) throw outcome.failure;
    if (outcome.failure !== undefined) return outcome.failure;
    if (rawError) throw new UserError(`--raw ${o.raw}: ${writeFailure(rawError as NodeJS.ErrnoException)} (the trace was stopped)`, EXIT_RUN_FAILED);
    // (the command layer has said so: one line for a failed standard output)
    if (writer.error) return EXIT_RUN_FAILED;
    if (tracerDied) {
      throw new UserError(`${tracerDied}: the trace is cut short` + (st.killedTree ? "; the traced processes were killed" + (backend.killedNote ?? "")
        : client ? "; the docker client was stopped" : target.kind === "pids" ? "; the processes were let go and run on" : ""), EXIT_RUN_FAILED);
    }
    if (writer.closed) return 0;
    for (const w of outcome.warnings ?? []) tell.warn(w);
    if (detached) return 0;
    if (lost !== undefined && lost > 0) tell.warn(`${backend.name} lost ${lost} events: the trace is incomplete (a faster reader, or fewer events, would keep them)`);
    if (reader.counts.unparsed > 0) tell.warn(`${reader.counts.unparsed} lines of ${backend.name} output not understood`);
    if (unseen && code === 0) tell.warn("the container's start was not seen: nothing of it was traced");
    if (running) tell.warn(DETACHED);
    return code;
  }
}
