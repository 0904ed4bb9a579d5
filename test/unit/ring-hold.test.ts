// The eBPF ring reader on a real capture (test/fixtures/ebpf/capture.sh): a child's records come after
// its parent's fork call, however late the parent returned from it, and nothing is lost on the way.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { ROOT } from "../helpers.js";
import { RingReader } from "../../lib/bpf/ring-reader.js";
import { Profiler, type Summary } from "../../lib/profile/summary.js";
import type { SyscallRecord, TraceRecord } from "../../lib/io/records.js";

const frames = readFileSync(ROOT + "test/fixtures/ebpf/vfork-late.frames");
const read = (chunk: number) => {
  const recs: TraceRecord[] = [];
  const r = new RingReader((x) => recs.push(x), {});
  for (let at = 0; at < frames.length; at += chunk) r.chunk(frames.subarray(at, at + chunk));
  r.end();
  return { recs, reader: r };
};

describe("the ring reader holds a child's records until its parent's fork call", () => {
  it("vfork children that exec'd before their parent returned: the fork first, then the child", () => {
    const { recs, reader } = read(65536);
    const calls = recs.filter((x): x is SyscallRecord => x.type === "syscall");
    const forks = calls.filter((x) => x.op === "fork" && x.ok);
    expect(forks.map((x) => x.syscall)).toEqual(Array(8).fill("vfork"));
    for (const f of forks) {
      const at = recs.indexOf(f);
      const first = recs.findIndex((x) => (x as { pid?: number }).pid === f.ret);
      expect(first, `child ${f.ret}`).toBeGreaterThan(at);
    }
    // who ran each python3 is known from the stream: the shell
    const p = new Profiler([]);
    for (const r of recs) p.add(r);
    const py = (p.result().slice(1) as Summary[]).find((s) => s.kind === "exec" && s.path === "/usr/bin/python3.11");
    expect(py?.calls).toBe(8);
    expect(py?.programs).toEqual(["/usr/bin/dash"]);
    // every record is written once: as many as the reader counted, in any chunking
    expect(recs.length).toBe(reader.counts.records);
    expect(recs.filter((x) => x.type === "exit").length).toBe(9);
    const sorted = (xs: TraceRecord[]) => xs.map((x) => JSON.stringify(x)).sort();
    expect(sorted(read(7).recs)).toEqual(sorted(recs));
  });
});
