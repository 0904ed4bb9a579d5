// untrusted(): the one judgement of a run's trace, from its run and end records, for end records of
// today's tools (complete, incomplete, ended, lost) and of older ones (exit, container, lost, unparsed).
import { describe, expect, it } from "vitest";
import { NO_END, TrustTracker, untrusted } from "../../lib/profile/trust.js";
import type { EndRecord, RunRecord } from "../../lib/io/records.js";

const run = (argv: string[]): RunRecord => ({ type: "run", v: 1, tracer: "strace", argv });
const end = (f: Partial<EndRecord>): EndRecord => ({ type: "end", ...f });

describe("untrusted", () => {
  it("a complete run, old or new, is trusted", () => {
    expect(untrusted(run(["true"]), end({ exit: 0, lines: 10, unparsed: 0 }))).toEqual([]);
    expect(untrusted(run(["true"]), end({ exit: 1, ended: "exited", complete: true, lost: 0 }))).toEqual([]);
    expect(untrusted(run(["sleep", "9"]), end({ exit: 137, signal: "SIGKILL", ended: "killed", complete: true }))).toEqual([]);
    // the command itself exited 127, and the tool says it ran
    expect(untrusted(run(["sh", "-c", "nosuch"]), end({ exit: 127, ended: "exited", complete: true }))).toEqual([]);
  });

  it("no end record: cut short", () => {
    expect(untrusted(run(["true"]), undefined)).toEqual([NO_END]);
  });

  it("an end record that says it is incomplete gives its reasons", () => {
    expect(untrusted(undefined, end({ complete: false, incomplete: ["strace killed by SIGKILL", "lost 3 events"], lost: 3 })))
      .toEqual(["strace killed by SIGKILL", "lost 3 events"]);
    expect(untrusted(undefined, end({ complete: false }))).toEqual(["the tracer says the trace is incomplete"]);
  });

  it("older end records: trace-run's 125-127, no container, lost events, lines not understood", () => {
    expect(untrusted(run(["nosuch"]), end({ exit: 127 }))).toEqual(["command did not start (exit 127)"]);
    expect(untrusted(run(["docker", "run", "--rm", "x:1"]), end({ exit: 125, container: null })))
      .toEqual(["command did not start (exit 125)", "no container was seen (docker run)"]);
    expect(untrusted(run(["/usr/bin/podman", "run", "x:1"]), end({ exit: 0, container: null }))).toEqual(["no container was seen (podman run)"]);
    expect(untrusted(run(["x"]), end({ exit: 0, lost: 2200 }))).toEqual(["lost 2200 events"]);
    expect(untrusted(run(["x"]), end({ exit: 0, unparsed: 1 }))).toEqual(["1 line of the tracer's output not understood"]);
  });

  it("facts that contradict complete: true still refuse", () => {
    expect(untrusted(undefined, end({ complete: true, ended: "not-started", exit: 126 }))).toEqual(["command did not start (exit 126)"]);
    expect(untrusted(undefined, end({ complete: true, lost: 1 }))).toEqual(["lost 1 event"]);
  });
});

describe("TrustTracker over a stream", () => {
  const feed = (recs: { type: string; [k: string]: unknown }[]) => { const t = new TrustTracker(); for (const r of recs) t.add(r); return t.reasons(); };
  const sys = { type: "syscall", pid: 1, syscall: "openat" };

  it("runs closed by their end records; events with no run need an end too", () => {
    expect(feed([run(["a"]), sys, end({ exit: 0 }), run(["b"]), sys, end({ exit: 0 })])).toEqual([]);
    expect(feed([sys, sys])).toEqual([NO_END]);
    expect(feed([run(["a"]), sys, run(["b"]), sys, end({ exit: 0 })])).toEqual([NO_END]);
    expect(feed([run(["a"]), end({ exit: 0 }), sys])).toEqual([NO_END]);
    expect(feed([])).toEqual([]);
  });

  it("profiles carry their reasons; summaries without their header cannot say", () => {
    expect(feed([{ type: "profile", incomplete: ["lost 2 events"] }, { type: "summary" }, { type: "profile" }])).toEqual(["lost 2 events"]);
    expect(feed([{ type: "summary", kind: "file" }])).toEqual(["summaries without their profile header"]);
  });
});
