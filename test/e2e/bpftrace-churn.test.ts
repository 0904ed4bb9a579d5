// The bpftrace backend while other containers come and go: bpftrace falls behind and reads one CPU's
// buffer at a time, so an exec's start can come long after its end, and the end of the run before the
// last lines of the other CPU. Traced again and again, the same job holds every program it ran, each
// with its path, and the trace is complete.
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/trace-churn-");
const label = `leastpriv-churn-test=${process.pid}`;
const image = "leastpriv-glibc:1";
const RUNS = 4;
// what /app/job.sh runs (test/containers/glibc/job.sh), each command line and how often
const programs: Record<string, number> = {
  "/app/job.sh": 1, "mkdir -p /data/out": 1, "seq 30": 1, "ls /": 30,
  "python3 /app/step.py /data/out": 1, "ip -o link show": 1, "cat /data/out/report.txt": 1,
};

describe("trace-run --backend bpftrace under container churn", () => {
  const loops: ChildProcess[] = [];
  const traced: { status: number | null; recs: any[]; stderr: string }[] = [];
  let passed = false;
  beforeAll(async () => {
    execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
    // four loops of short containers, and a busy shell, while the job is traced
    const stop = tmp + "/stop";
    const churn = `while [ ! -e ${stop} ]; do docker run --rm --label ${label} leastpriv-test:1 /bin/busybox sh -c 'ls / >/dev/null' >/dev/null 2>&1; done`;
    for (let i = 0; i < 4; i++) loops.push(spawn("bash", ["-c", churn], { stdio: "ignore" }));
    loops.push(spawn("bash", ["-c", `while [ ! -e ${stop} ]; do timeout 5 sh -c 'while :; do :; done'; done`], { stdio: "ignore" }));
    for (let i = 0; i < RUNS; i++) {
      const r = run("trace-run", ["--backend", "bpftrace", "--", "docker", "run", "--rm", image]);
      writeFileSync(`${tmp}/run${i + 1}.ndjson`, r.stdout);                  // kept for a failure's post-mortem
      traced.push({ status: r.status, recs: r.records(), stderr: r.stderr });
    }
    writeFileSync(stop, "");
    await Promise.all(loops.map((l) => new Promise((resolve) => (l.exitCode !== null ? resolve(null) : l.on("exit", resolve)))));
  }, 300_000);
  afterAll(() => {
    if (!existsSync(tmp + "/stop")) { writeFileSync(tmp + "/stop", ""); for (const l of loops) l.kill(); }
    const ids = spawnSync("docker", ["ps", "-aq", "--filter", `label=${label}`], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    if (ids.length) spawnSync("docker", ["rm", "-f", ...ids]);
    if (passed) rmSync(tmp, { recursive: true, force: true });
  });

  it(`${RUNS} runs: complete, no exec without its path, every program the job ran, as the container's`, () => {
    const problems = traced.map((t, i) => {
      const end = t.recs.at(-1);
      const p: string[] = [];
      if (t.status !== 0) p.push(`exit ${t.status}: ${t.stderr.trim()}`);
      if (end?.type !== "end" || end.complete !== true) p.push(`end record ${JSON.stringify(end).slice(0, 300)}`);
      const missing = t.recs.filter((x) => x.type === "syscall" && x.kind === "exec" && x.missing);
      if (missing.length) p.push(`${missing.length} execs without their path: ${missing.map((x) => `${x.pid} ${x.time}`).join(", ")}`);
      const seen: Record<string, number> = {};
      for (const x of t.recs) {
        if (x.type !== "syscall" || x.kind !== "exec" || !x.ok || x.runtime || x.container !== end?.container) continue;
        const k = x.argv.join(" ");
        seen[k] = (seen[k] ?? 0) + 1;
      }
      const short = Object.entries(programs).filter(([k, n]) => seen[k] !== n).map(([k, n]) => `${k}: ${seen[k] ?? 0} of ${n}`);
      if (short.length) p.push(short.join("; "));
      return p.length ? `run ${i + 1}: ${p.join("; ")}` : "";
    }).filter(Boolean);
    expect(problems, `traces in ${tmp}`).toEqual([]);
    passed = true;
  });
});
