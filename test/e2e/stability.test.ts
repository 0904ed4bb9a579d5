// The stability suite: an unchanged glibc-based image (leastpriv-glibc:1), traced again and again
// under docker and podman and under both backends, holds every program it runs and gives one profile.
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { ROOT, run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/trace-stability-");
// the image's root file system, for trace-summarize --root: names inside a container are walked, and
// its scripts' #! lines read, there (trace-summarize(1), CANONICAL NAMES and SCRIPTS)
const imageRoot = tmp + "/root";
const image = "leastpriv-glibc:1";
const podman = ["podman", "run", "--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--rm"];

// what /app/job.sh runs (test/containers/glibc/job.sh), each command line and how often
const programs: Record<string, number> = {
  "/app/job.sh": 1, "mkdir -p /data/out": 1, "seq 30": 1, "ls /": 30,
  "python3 /app/step.py /data/out": 1, "ip -o link show": 1, "cat /data/out/report.txt": 1,
};

interface Traced {
  label: string;
  status: number | null;
  stdout: string;
  stderr: string;
  secs: number;
  profile: string;             // its trace-summarize output, in a file
}

function trace(label: string, backend: string, command: string[]): Traced {
  const t0 = Date.now();
  const r = run("trace-run", ["--backend", backend, "--", ...command]);
  const secs = (Date.now() - t0) / 1000;
  const file = `${tmp}/${label.replace(/\W/g, "_")}`;
  writeFileSync(file + ".ndjson", r.stdout);                        // kept for a failure's post-mortem
  const profile = file + ".profile";
  writeFileSync(profile, run("trace-summarize", ["--root", imageRoot], r.stdout).stdout);
  return { label, status: r.status, stdout: r.stdout, stderr: r.stderr, secs, profile };
}

const records = (t: Traced) => t.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
const name = (t: Traced) => `${t.label} (${t.secs.toFixed(1)} s)`;

interface Diffed { pair: string; failing: string[] }

// trace-diff as run() runs it, but not blocking: the pairs are many, and two at a time use both CPUs
async function traceDiff(x: Traced, y: Traced): Promise<Diffed | undefined> {
  let status = 0, stdout: string, stderr: string;
  try {
    ({ stdout, stderr } = await promisify(execFile)(process.execPath, [ROOT + "dist/commands/trace-diff.js", "--format", "text", x.profile, y.profile],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "dumb", TZ: "UTC", LANG: "C" }, maxBuffer: 1 << 28 }));
  } catch (e: any) {
    if (typeof e.code !== "number") throw e;
    ({ code: status, stdout, stderr } = e);
  }
  if (status === 0) return undefined;
  const failing = stdout.split("\n").filter((l) => l !== "" && !l.endsWith("(not failing)") && !/^\d+ differences/.test(l));
  return { pair: `trace-diff ${x.label} ${y.label}: exit ${status}${stderr ? ": " + stderr.trim() : ""}`, failing };
}

/** Each pair both ways; what did not exit 0, with its failing lines (or trace-diff's trouble). */
async function diffPairs(pairs: [Traced, Traced][]): Promise<{ diffed: Diffed[]; total: number }> {
  const jobs = pairs.flatMap(([a, b]) => [[a, b], [b, a]]);
  const results: (Diffed | undefined)[] = [];
  let next = 0;
  const worker = async () => { while (next < jobs.length) { const i = next++; results[i] = await traceDiff(jobs[i][0], jobs[i][1]); } };
  await Promise.all([worker(), worker()]);
  return { diffed: results.filter((d): d is Diffed => d !== undefined), total: jobs.length };
}

// what differs, by shape (long numbers and Python's random temporary names as N and X), and in how many
// of the diffs; then each differing diff
function diffReport(diffed: Diffed[], total: number): string {
  const shapes = new Map<string, number>();
  for (const d of diffed) {
    for (const l of new Set(d.failing.map((f) => f.replace(/(\/tmp\/|\btmp)[a-z0-9_]{8}\b/g, "$1XXXXXXXX").replace(/\d{4,}/g, "N")))) shapes.set(l, (shapes.get(l) ?? 0) + 1);
  }
  const lines = [`${diffed.length} of ${total} diffs failed (profiles in ${tmp}); their failing lines by shape, in how many of them:`,
    ...[...shapes].sort((p, q) => q[1] - p[1]).map(([l, n]) => `${String(n).padStart(5)}  ${l}`), "each failed diff:"];
  for (const d of diffed) lines.push(d.pair, ...d.failing.slice(0, 15).map((l) => "    " + l), ...(d.failing.length > 15 ? [`    … ${d.failing.length - 15} more`] : []));
  return lines.slice(0, 400).join("\n");
}

function report(problems: string[][], total: number, what: string): string {
  const bad = problems.filter((p) => p.length > 0);
  return `${bad.length} of ${total} ${what} (traces and profiles in ${tmp}):\n` + bad.flat().join("\n");
}

describe(`stability: ${image} traced again and again`, () => {
  const docker: Traced[] = [], podmans: Traced[] = [], bpf: Traced[] = [];
  beforeAll(() => {
    execFileSync("bash", [ROOT + "test/containers/build-images.sh"]);
    const id = execFileSync("docker", ["create", image], { encoding: "utf8" }).trim();
    try { execFileSync("bash", ["-c", `mkdir -p ${imageRoot} && docker export ${id} | tar -x -C ${imageRoot}`]); }
    finally { execFileSync("docker", ["rm", id], { stdio: "ignore" }); }
    for (let i = 1; i <= 10; i++) docker.push(trace(`docker#${i}`, "strace", ["docker", "run", "--rm", image]));
    for (let i = 1; i <= 5; i++) podmans.push(trace(`podman#${i}`, "strace", [...podman, image]));
    bpf.push(trace("docker/bpftrace", "bpftrace", ["docker", "run", "--rm", image]));
    bpf.push(trace("podman/bpftrace", "bpftrace", [...podman, image]));
  }, 900_000);
  const all = () => [...docker, ...podmans, ...bpf];
  // the traces stay for a post-mortem unless every test below passed
  let passed = 0;
  const check = (n: number, message: string) => { expect(n, message).toBe(0); passed++; };
  afterAll(() => { if (passed === 5) rmSync(tmp, { recursive: true, force: true }); });

  it("every run did the job and was traced to its end, in the container", () => {
    const problems = all().map((t) => {
      const end = records(t).at(-1);
      const p: string[] = [];
      if (t.status !== 0) p.push(`exit ${t.status}`);
      if (!/^\d+ links \(.*\); 100 intermediate lines$/m.test(t.stderr)) p.push("the job's report is missing");
      if (/^trace-run:/m.test(t.stderr)) p.push(t.stderr.split("\n").filter((l) => l.startsWith("trace-run:")).join("; "));
      if (end?.type !== "end" || end.exit !== 0 || !/^[0-9a-f]{64}$/.test(end.container ?? "")) p.push(`end record ${JSON.stringify(end).slice(0, 300)}`);
      return p.length ? [`${name(t)}: ${p.join("; ")}`] : [];
    });
    check(problems.flat().length, report(problems, all().length, "runs"));
  });

  it("each run holds every program the job ran (all 30 ls), as the container's", () => {
    const problems = all().map((t) => {
      const recs = records(t);
      const container = recs.at(-1)?.container;
      const execs = recs.filter((x) => x.type === "syscall" && x.kind === "exec" && x.ok && programs[x.argv?.join(" ")] !== undefined);
      const seen: Record<string, number> = {}, runtime: Record<string, number> = {};
      for (const x of execs) {
        const into = x.runtime || x.container !== container ? runtime : seen;
        const k = x.argv.join(" ");
        into[k] = (into[k] ?? 0) + 1;
      }
      const short = Object.entries(programs).filter(([k, n]) => seen[k] !== n)
        .map(([k, n]) => `${k}: ${seen[k] ?? 0} of ${n}${runtime[k] ? ` (and ${runtime[k]} marked runtime or another container's)` : ""}`);
      return short.length ? [`${name(t)}: ${short.join("; ")}`] : [];
    });
    check(problems.flat().length, report(problems, all().length, "runs lost programs"));
  });

  it("each profile has the script's #! interpreter among the programs run", () => {
    const problems = all().map((t) => {
      const summaries = readFileSync(t.profile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
      const interpreter = summaries.some((s) => s.type === "summary" && s.ops?.includes("exec") && /^(\/usr)?\/bin\/(sh|dash)$/.test(s.path ?? ""));
      return interpreter ? [] : [`${name(t)}: no exec of /bin/sh (or /usr/bin/dash) for /app/job.sh's #!/bin/sh`];
    });
    check(problems.flat().length, report(problems, all().length, "profiles"));
  });

  it("every pair of the 15 strace profiles (10 docker, 5 podman) diffs clean both ways", async () => {
    const runs = [...docker, ...podmans];
    const { diffed, total } = await diffPairs(runs.flatMap((a, i) => runs.slice(i + 1).map((b): [Traced, Traced] => [a, b])));
    check(diffed.length, diffReport(diffed, total));
  }, 600_000);

  it("the same job under strace and bpftrace diffs clean both ways, under docker and under podman", async () => {
    const { diffed, total } = await diffPairs([[docker[0], bpf[0]], [podmans[0], bpf[1]]]);
    check(diffed.length, diffReport(diffed, total));
  }, 60_000);
});
