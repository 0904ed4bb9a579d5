// Whether BPF programs can be loaded here, as the eBPF loader's check (leastpriv-bpf --check) answers:
// the loader's own program, and whether the kernel lets this process load any (what bpftrace needs too).
// Asked once per process and options (one that passed, once a boot), and only by root with the loader
// built: it loads the program.

import { spawnSync } from "node:child_process";
import { readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { LOADER, PASSED, loaderUnavailable } from "./start.js";

/** Why the loader's program cannot be loaded here; `denied`: the kernel lets this process load no BPF
 *  program at all (no CAP_BPF and CAP_PERFMON nor CAP_SYS_ADMIN, a security module, no bpf call). */
export interface LoaderRefusal {
  why: string;
  denied: boolean;
}

export interface CheckOptions {
  /** The ring's size the run will ask for (a ring the kernel cannot make fails the check too). */
  ringMb?: number;
  execProbe?: "prepare" | "entry";
}

const checked = new Map<string, LoaderRefusal | undefined>();

/** The loader's check: undefined when a run's program loads here, else why not (one line). */
export function checkLoader(o: CheckOptions = {}, loader = LOADER): LoaderRefusal | undefined {
  const args = ["--check"];
  if (o.ringMb !== undefined) args.push("--ring-mb", String(o.ringMb));
  if (o.execProbe) args.push("--exec-probe", o.execProbe);
  const key = [loader, ...args].join("\0");
  if (checked.has(key)) return checked.get(key);
  const pass = loader === LOADER ? passKey(loader, args) : undefined;
  if (pass && passed().includes(pass)) { checked.set(key, undefined); return undefined; }
  const r = spawnSync(loader, args, { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"], timeout: 120000 });
  let no: LoaderRefusal | undefined;
  if (r.error) no = { why: `cannot run ${loader}: ${r.error.message}`, denied: false };
  else if (r.status !== 0) {
    // the loader's own line is its reason (with LEASTPRIV_DEBUG, libbpf's lines come before it)
    const said = r.stderr.split("\n").filter((l) => l.startsWith("leastpriv-bpf: ")).at(-1)?.slice("leastpriv-bpf: ".length);
    const how = r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
    no = { why: said ?? `its check ended with ${how}`, denied: r.status === 4 };
  }
  checked.set(key, no);
  if (!no && pass) remember(pass);
  return no;
}

// A check that passed is remembered for the boot, beside the loader (PASSED): it costs 0.1 s at every
// run (the verifier), and its answer holds while the kernel that answered (the boot), the loader and
// what this process may do (its capabilities, its user namespace, the kernel's lockdown) are the same.
// A failed check is never remembered: it is the way to a fallback, asked again each time. Should the
// kernel come to refuse the program within a boot all the same (a security module's new policy), the
// run fails at the loader's start with its one line, as it would without the check.
function passKey(loader: string, args: string[]): string | undefined {
  try {
    const st = statSync(loader);
    const status = readFileSync("/proc/self/status", "utf8");
    const caps = ["CapEff", "CapBnd"].map((k) => new RegExp(`^${k}:\\s*(\\S+)`, "m").exec(status)?.[1] ?? "");
    let lockdown = "";
    try { lockdown = readFileSync("/sys/kernel/security/lockdown", "utf8").trim(); } catch { /* no lockdown LSM */ }
    return JSON.stringify([readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim(), st.dev, st.ino, st.size, st.mtimeMs,
      ...caps, readlinkSync("/proc/self/ns/user"), lockdown, args]);
  } catch { return undefined; }
}

function passed(): string[] {
  try { return readFileSync(PASSED, "utf8").split("\n").filter(Boolean); } catch { return []; }
}

function remember(pass: string): void {
  // (a few lines: one per ring size and set of capabilities asked with; a tree that cannot be written is asked each time)
  const keep = [...passed().filter((l) => l !== pass).slice(-7), pass];
  const tmp = `${PASSED}.${process.pid}`;
  try { writeFileSync(tmp, keep.join("\n") + "\n", { mode: 0o644 }); renameSync(tmp, PASSED); } catch { rmSync(tmp, { force: true }); }
}

/**
 * Why the kernel lets this process load no BPF program at all, which any BPF tool meets (bpftrace
 * too); undefined when it may, or when there is nothing to ask it with (not root, no loader built).
 * A check already made with other options answers it: a refusal of every program does not depend on them.
 */
export function bpfDenied(): string | undefined {
  if (process.getuid?.() !== 0 || loaderUnavailable()) return undefined;
  const made = [...checked].filter(([k]) => k.startsWith(LOADER + "\0")).map(([, v]) => v);
  const no = made.length ? made.find((x) => x?.denied) : checkLoader();
  return no?.denied ? no.why : undefined;
}
