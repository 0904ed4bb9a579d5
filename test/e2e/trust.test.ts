// The trust gate: trace-diff, its --update, trace-policy and trace-grant refuse a trace that did not
// happen, was cut short or is not whole (exit 2, one line), and take it with --allow-incomplete. The
// traces are real: a docker run of an image that is not there, a trace-run killed with SIGKILL
// mid-run, and a real trace cut short.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT, run } from "../helpers.js";

const tmp = mkdtempSync(tmpdir() + "/trust-");
const USER = "nobody";
let base = "";                     // a profile of a complete run of the same job
const inputs: { [name: string]: string } = {};

/** Every gate on one input: [what, exit status, stderr]. */
function gates(file: string, extra: string[] = []): [string, number | null, string][] {
  const baseFile = `${tmp}/base-${Math.random().toString(36).slice(2)}.profile`;
  writeFileSync(baseFile, base);
  const out: [string, number | null, string][] = [];
  const d = run("trace-diff", [...extra, baseFile, file]);
  out.push(["trace-diff", d.status, d.stderr + (d.status === 1 ? d.stdout : "")]);     // what failed, when something did
  const u = run("trace-diff", [...extra, "--update", baseFile, file]);
  out.push(["trace-diff --update", u.status, u.stderr]);
  // a refused update leaves the baseline as it was, and nothing beside it
  if (u.status === 2) expect(readFileSync(baseFile, "utf8"), "baseline after a refused --update").toBe(base);
  expect(readdirSync(tmp).filter((f) => f.includes(".tmp-")), "temporary files left").toEqual([]);
  const p = run("trace-policy", [...extra, "--format", "apparmor", file]);
  out.push(["trace-policy", p.status, p.stderr]);
  const g = run("trace-grant", [...extra, "--user", USER, "--format", "ndjson", file]);
  out.push(["trace-grant", g.status, g.stderr]);
  rmSync(baseFile, { force: true });
  return out;
}

function refusedByAll(name: string, why: RegExp): void {
  for (const [tool, status, stderr] of gates(inputs[name])) {
    expect(status, `${tool} on ${name}: ${stderr}`).toBe(2);
    const lines = stderr.split("\n").filter(Boolean);
    expect(lines, `${tool} on ${name}`).toHaveLength(1);
    expect(lines[0], tool).toMatch(new RegExp(`^${tool.split(" ")[0]}: .*the trace is incomplete: .*${why.source}.*\\(--allow-incomplete to use it anyway\\)$`));
  }
}

function takenWhenAllowed(name: string): void {
  for (const [tool, status, stderr] of gates(inputs[name], ["--allow-incomplete"])) {
    expect(stderr, tool).toMatch(/the trace is incomplete: .*; used anyway, as asked/);
    // trace-diff: the run did less than the baseline, which does not fail; --update exits 0
    expect(status, `${tool} on ${name}: ${stderr}`).toBe(0);
  }
}

/** The pids of a process and all its descendants (from /proc), so that a test can end what it started. */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let kids = "";
    try { kids = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, "utf8"); } catch { continue; }
    for (const k of kids.split(" ").filter(Boolean)) out.push(Number(k));
  }
  return out;
}

/** How many containerd processes a tracer is attached to now. */
function containerdTracers(): number {
  let n = 0;
  for (const d of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim() !== "containerd") continue;
      if (!/^TracerPid:\s+0$/m.test(readFileSync(`/proc/${d}/status`, "utf8"))) n++;
    } catch { /* gone */ }
  }
  return n;
}

const waitFor = async (cond: () => boolean, what: string, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("the trust gate", () => {
  beforeAll(async () => {
    expect(spawnSync("id", [USER]).status, `the user ${USER}, for trace-grant`).toBe(0);
    // the job: reads files in a loop, long enough to be killed in the middle
    const job = `${tmp}/job.sh`;
    writeFileSync(job, "i=0; while [ $i -lt $1 ]; do cat /etc/hostname /etc/passwd >/dev/null; i=$((i+1)); done\n");
    const whole = run("trace-run", ["--", "sh", job, "400"]);
    expect(whole.status, whole.stderr).toBe(0);
    writeFileSync(`${tmp}/whole.ndjson`, whole.stdout);
    base = run("trace-summarize", [`${tmp}/whole.ndjson`]).stdout;

    // a real trace cut short: its first 2,000 records, no end record; and its header alone
    const lines = whole.stdout.split("\n").filter(Boolean);
    expect(lines.length).toBeGreaterThan(2001);
    writeFileSync(inputs.truncated = `${tmp}/truncated.ndjson`, lines.slice(0, 2000).join("\n") + "\n");
    writeFileSync(inputs.header = `${tmp}/header.ndjson`, lines[0] + "\n");

    // docker run of an image that is not there: the client fails with 125, no container starts.
    // strace attaches to containerd, which only one tracer can do at a time: while another test's
    // trace holds it, wait for it to let go
    let miss = run("trace-run", ["--", "docker", "run", "--rm", "leastpriv-no-such-image:1"]);
    for (let i = 0; i < 20 && /could not attach to containerd/.test(miss.stderr); i++) {
      await waitFor(() => containerdTracers() === 0, "containerd to be traced by no one", 300_000);
      miss = run("trace-run", ["--", "docker", "run", "--rm", "leastpriv-no-such-image:1"]);
    }
    expect(miss.status, miss.stderr).toBe(125);
    writeFileSync(inputs.missing = `${tmp}/missing.ndjson`, miss.stdout);

    // trace-run killed with SIGKILL mid-run (its tracer and the job are then ended by the test)
    const killedFile = `${tmp}/killed.ndjson`;
    const fd = openSync(killedFile, "w");
    const tr = spawn(process.execPath, [ROOT + "dist/commands/trace-run.js", "--", "sh", job, "100000000"], {
      stdio: ["ignore", fd, "ignore"], cwd: ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "dumb", TZ: "UTC", LANG: "C" },   // as run() does
    });
    await waitFor(() => statSync(killedFile).size > 200_000, "the killed run's records");
    const all = tree(tr.pid!);
    const gone = new Promise((r) => tr.on("exit", r));
    process.kill(tr.pid!, "SIGKILL");
    await gone;
    for (const p of all.slice(1)) try { process.kill(p, "SIGKILL"); } catch { /* gone already */ }
    await waitFor(() => all.every((p) => !existsSync(`/proc/${p}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${p}/status`, "utf8"))), "the killed run's processes");
    inputs.killed = killedFile;
  }, 240_000);

  afterAll(() => { if (!process.env.KEEP) rmSync(tmp, { recursive: true, force: true }); });

  it("a complete run passes every gate", () => {
    for (const [tool, status, stderr] of gates(`${tmp}/whole.ndjson`)) expect([tool, status, stderr]).toEqual([tool, 0, ""]);
  });

  it("docker run of a missing image: refused by diff, --update, policy and grant", () => {
    const end = readFileSync(inputs.missing, "utf8").trim().split("\n").map((l) => JSON.parse(l)).at(-1);
    expect(end).toMatchObject({ type: "end", exit: 125, container: null });
    refusedByAll("missing", /no container was seen/);
    // let through, it reaches the next check: a policy of no system calls is not written either
    const p = run("trace-policy", ["--allow-incomplete", "--format", "seccomp", inputs.missing]);
    expect(p.stderr).toMatch(/used anyway, as asked\ntrace-policy: no system calls in the input/);
    const d = run("trace-diff", ["--allow-incomplete", `${tmp}/whole.ndjson`, inputs.missing]);
    expect(d.status, d.stderr).toBe(0);        // it did less than the baseline: nothing fails
  });

  it("trace-run killed with SIGKILL mid-run: refused; taken with --allow-incomplete", () => {
    const text = readFileSync(inputs.killed, "utf8");
    expect(text.endsWith("\n"), "whole lines").toBe(true);
    const recs = text.trim().split("\n").map((l) => JSON.parse(l));
    expect(recs[0].type).toBe("run");
    expect(recs.some((r) => r.type === "end")).toBe(false);
    refusedByAll("killed", /no end record \(the trace was cut short\)/);
    takenWhenAllowed("killed");
  });

  it("a truncated file, and a header alone: refused; taken with --allow-incomplete", () => {
    refusedByAll("truncated", /no end record/);
    refusedByAll("header", /no end record/);
    takenWhenAllowed("truncated");
  });

  it("a profile carries the reasons: trace-summarize writes them, the gates refuse it, merging unions them", () => {
    const s = run("trace-summarize", [inputs.truncated]);
    expect(s.status).toBe(0);
    expect(s.stderr).toMatch(/^trace-summarize: the trace is incomplete: no end record \(the trace was cut short\): the profile says so\n$/);
    const h = s.records()[0];
    expect(h).toMatchObject({ type: "profile", incomplete: ["no end record (the trace was cut short)"] });
    writeFileSync(inputs.cutProfile = `${tmp}/cut.profile`, s.stdout);
    refusedByAll("cutProfile", /no end record/);
    const missing = run("trace-summarize", [inputs.missing]).stdout;
    writeFileSync(`${tmp}/missing.profile`, missing);
    const merged = run("trace-summarize", ["--merge", inputs.cutProfile, `${tmp}/missing.profile`, `${tmp}/whole.ndjson`]).records()[0];
    expect(merged.incomplete).toEqual(["no container was seen", "no end record (the trace was cut short)"]);   // trace-run's own reason, and the cut one's
    // a complete profile has no such field, and an --update with an incomplete trace carries it into the baseline
    expect(run("trace-summarize", [`${tmp}/whole.ndjson`]).records()[0].incomplete).toBeUndefined();
    writeFileSync(`${tmp}/accepted.profile`, base);
    expect(run("trace-diff", ["--update", "--allow-incomplete", `${tmp}/accepted.profile`, inputs.truncated]).status).toBe(0);
    expect(JSON.parse(readFileSync(`${tmp}/accepted.profile`, "utf8").split("\n")[0]).incomplete).toEqual(["no end record (the trace was cut short)"]);
    rmSync(`${tmp}/accepted.profile`);
  });

  it("two runs concatenated, the first cut short: refused", () => {
    const whole = readFileSync(`${tmp}/whole.ndjson`, "utf8");
    writeFileSync(inputs.concat = `${tmp}/concat.ndjson`, readFileSync(inputs.truncated, "utf8") + whole);
    refusedByAll("concat", /no end record/);
  });
});
