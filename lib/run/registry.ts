// The backends trace-run knows, by the name --backend gives: a new tracer is one Backend (see
// backend.ts) listed here, with the reader of what it prints.

import type { Backend } from "./backend.js";
import { strace } from "./strace.js";
import { bpftrace } from "./bpftrace.js";
import { ebpf } from "./ebpf.js";

/** In --help's order; the first is the default. */
export const BACKENDS: readonly Backend[] = [strace, bpftrace, ebpf];

export function backendNamed(name: string): Backend {
  const b = BACKENDS.find((x) => x.name === name);
  if (!b) throw new Error(`no backend named ${name}`);     // --backend's choices come from BACKENDS
  return b;
}
