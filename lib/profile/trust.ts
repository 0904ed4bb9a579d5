// Whether a trace can be trusted: a gate (trace-diff, trace-policy, trace-grant) must never pass a run
// that did not happen, was cut short or lost events. One function judges a run from its `run` and `end`
// records; a tracker applies it to each run of a stream and carries the reasons of profiles forward.

import { UserError } from "../errors.js";
import type { EndRecord, RunRecord } from "../io/records.js";

/** The reason given for a run whose `end` record never came. */
export const NO_END = "no end record (the trace was cut short)";
/** At most this many reasons are kept (the first in sort order), as for the other lists of a profile. */
const MAX_REASONS = 20;

/**
 * Why the trace of one run cannot be trusted: empty when it can. `end` undefined: the stream has none.
 * An end record of today's tools says so itself (`complete`, `incomplete`); those of older tools, and
 * end records whose other fields contradict `complete: true`, are judged by the facts they hold.
 */
export function untrusted(run: RunRecord | undefined, end: EndRecord | undefined): string[] {
  if (!end) return [NO_END];
  if (end.complete === false) {
    const listed = Array.isArray(end.incomplete) ? end.incomplete.filter((x): x is string => typeof x === "string" && x !== "") : [];
    return listed.length ? listed : ["the tracer says the trace is incomplete"];
  }
  const why: string[] = [];
  const exit = typeof end.exit === "number" ? end.exit : undefined;
  if (end.ended === "not-started") why.push(`command did not start${exit !== undefined ? ` (exit ${exit})` : ""}`);
  // trace-run's own failures, and docker's and podman's for a container that did not start or whose
  // command could not be run; today's tools say "exited" when the command itself returned one of them
  else if (exit !== undefined && exit >= 125 && exit <= 127 && end.ended === undefined) why.push(`command did not start (exit ${exit})`);
  if ("container" in end && end.container === null) {
    const engine = run?.argv?.[0]?.replace(/.*\//, "");
    why.push(engine === "docker" || engine === "podman" ? `no container was seen (${engine} run)` : "no container was seen");
  }
  const lost = typeof end.lost === "number" ? end.lost : 0;
  if (lost > 0) why.push(`lost ${lost} event${lost === 1 ? "" : "s"}`);
  const unparsed = typeof end.unparsed === "number" ? end.unparsed : 0;
  if (unparsed > 0) why.push(`${unparsed} line${unparsed === 1 ? "" : "s"} of the tracer's output not understood`);
  return why;
}

/** The reasons of several runs as one sorted, bounded list without repeats (profiles merge them so). */
export function unionReasons(a: readonly string[], b: readonly string[]): string[] {
  if (b.every((x) => a.includes(x))) return [...a];
  return [...new Set([...a, ...b])].sort().slice(0, MAX_REASONS);
}

/**
 * The gate: throws (exit 2, one line) when the profile of input `name` lists reasons it cannot be
 * trusted, unless the user allowed it; then returns the warning to print instead.
 */
export function gate(input: string | string[], header: { incomplete?: string[] }, allowIncomplete: boolean): string | undefined {
  const why = header.incomplete;
  if (!why?.length) return undefined;
  const files = typeof input === "string" ? [input] : input.length ? input : ["-"];
  const name = files.length > 1 ? "the input" : files[0] === "-" ? "<stdin>" : files[0];
  const text = `${name}: the trace is incomplete: ${why.join("; ")}`;
  if (!allowIncomplete) throw new UserError(`${text} (--allow-incomplete to use it anyway)`);
  return `${text}; used anyway, as asked`;
}

/**
 * Follows the runs of a record stream (several may be concatenated, and profiles among them): each
 * `run` header opens a run that its `end` closes; events outside any run open one without a header; a
 * run still open when another begins, or when the stream ends, was cut short.
 */
export class TrustTracker {
  private reasonsSoFar: string[] = [];
  private open = false;
  private run: RunRecord | undefined;
  private inProfile = false;

  /** A record as it is read; `unparsed` records are the reader's to count, not a run's. */
  add(r: { type: string }): void {
    switch (r.type) {
      case "run": this.close(); this.open = true; this.run = r as RunRecord; this.inProfile = false; return;
      case "end":
        this.note(untrusted(this.open ? this.run : undefined, r as EndRecord));
        this.open = false; this.run = undefined;
        return;
      case "profile": {
        this.close();
        this.inProfile = true;
        const inc = (r as { incomplete?: unknown }).incomplete;
        if (Array.isArray(inc)) this.note(inc.filter((x): x is string => typeof x === "string"));
        return;
      }
      case "summary":
        // a profile's summaries without their header: whether that profile was complete is not known
        if (!this.inProfile && !this.open) this.note(["summaries without their profile header"]);
        return;
      case "syscall": case "signal": case "exit": case "info": case "count":
        if (!this.open) { this.open = true; this.run = undefined; this.inProfile = false; }
        return;
      default: return;
    }
  }

  /** The reasons so far, the run still open counted as cut short; empty: every run was complete. */
  reasons(): string[] {
    return this.open ? unionReasons(this.reasonsSoFar, [NO_END]) : this.reasonsSoFar;
  }

  private close(): void {
    if (this.open) this.note([NO_END]);
    this.open = false; this.run = undefined;
  }

  private note(why: string[]): void {
    if (why.length) this.reasonsSoFar = unionReasons(this.reasonsSoFar, why);
  }
}
