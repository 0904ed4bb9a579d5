// Reading record streams: NDJSON from files or stdin, one chunk of lines at a time, with file and line
// for every record. A line that is not JSON, or not a record of the contract (validate.ts), becomes an
// `unparsed` record and one warning, so that nothing is lost, no tool computes on it, and the run
// can still say it saw bad input (exit 2).

import { readLines } from "./input.js";
import type { Tell } from "../errors.js";
import type { TraceRecord, UnparsedRecord } from "./records.js";
import { invalid } from "./validate.js";

export type AnyRecord = TraceRecord | { type: string; [k: string]: unknown };

export interface ReadResult { badLines: number; badFiles: number }

const MAX_REPORTED = 10;

/**
 * Calls `each` with every record of every operand ("-" or none: stdin), and the text of its line, and
 * awaits `batch` after each chunk, which is where the caller flushes its output (and learns that its reader has gone).
 */
export async function readRecords(tell: Tell, files: string[], each: (rec: AnyRecord, text: string) => void,
  batch: () => Promise<boolean> = async () => true): Promise<ReadResult> {
  const res: ReadResult = { badLines: 0, badFiles: 0 };
  let name = "<stdin>";
  res.badFiles = await readLines(tell, files, {
    start(_file, n) { name = n; },
    line(text, no, full) {
      if (text === "") return;
      let rec: unknown;
      let why = "";
      if (full !== undefined) why = `line longer than the limit (${full} bytes)`;
      else {
        try { rec = JSON.parse(text); } catch (e) { why = "invalid JSON: " + (e as Error).message; }
        if (!why && (typeof rec !== "object" || rec === null || Array.isArray(rec) || typeof (rec as { type?: unknown }).type !== "string")) {
          why = "not a record (an object with a \"type\")";
        }
        if (!why) why = invalid(rec as { [k: string]: unknown }) ?? "";
      }
      if (why) {
        res.badLines++;
        if (res.badLines <= MAX_REPORTED) tell.warn(`${name}:${no}: ${why}`);
        const u: UnparsedRecord = { type: "unparsed", file: name, line: no, text: text.slice(0, 4096), reason: why };
        each(u, JSON.stringify(u));
        return;
      }
      each(rec as AnyRecord, text);
    },
    batch,
  });
  if (res.badLines > MAX_REPORTED) tell.warn(`${res.badLines} lines in all were not records`);
  return res;
}
