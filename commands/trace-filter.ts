#!/usr/bin/env node
// trace-filter: pass through the records (events or profile summaries) that match.

import { cli, main, tell, EXIT_NO, EXIT_OK, EXIT_TROUBLE } from "./cli.js";
import { buildPredicate, CONTEXT_TYPES } from "../lib/profile/filter.js";
import { readRecords } from "../lib/io/ndjson-in.js";
import { RecordWriter } from "../lib/io/output.js";

const prog = "trace-filter";
const a = cli(prog, "Usage: $0 [OPTIONS] [FILE|-]...\n       trace-run -- COMMAND | $0 --files --not-path '/usr/lib/**'\n\nPass through the records that match every selector given (repeated values of one selector: any of them).")
  .option("files", { type: "boolean", describe: "file accesses (kind file)" })
  .option("network", { type: "boolean", describe: "network (kind net)" })
  .option("exec", { type: "boolean", describe: "programs run (kind exec)" })
  .option("process", { type: "boolean", describe: "process calls (kind proc)" })
  .option("creds", { type: "boolean", describe: "credential calls (kind cred)" })
  .option("privileged", { type: "boolean", describe: "privileged operations (kind priv)" })
  .option("ipc", { type: "boolean", describe: "pipes and IPC (kind ipc)" })
  .option("op", { type: "string", array: true, describe: "operation: read, write, create, delete, connect, …" })
  .option("syscall", { type: "string", array: true, describe: "system call name" })
  .option("pid", { type: "number", array: true, describe: "process id" })
  .option("comm", { type: "string", array: true, describe: "command name (strace -Y) or program of a summary" })
  .option("container", { type: "string", array: true, describe: "container id" })
  .option("ok", { type: "boolean", describe: "calls that succeeded" })
  .option("failed", { type: "boolean", describe: "calls that failed" })
  .option("errno", { type: "string", array: true, describe: "error name, such as EACCES" })
  .option("path", { type: "string", array: true, describe: "glob on path or path2 (micromatch: ** crosses directories)" })
  .option("not-path", { type: "string", array: true, describe: "leave out paths matching this glob" })
  .option("addr", { type: "string", array: true, describe: "peer or local IP address, or glob on a unix socket path" })
  .option("port", { type: "number", array: true, describe: "port" })
  .option("where", { type: "string", array: true, describe: "FIELD=VALUE: a field (a.b for nested; any element of a list) equal to VALUE, e.g. changes=true" })
  .check((x) => { for (const w of x.where ?? []) if (!/^[^=]+=/.test(w)) throw new Error(`--where wants FIELD=VALUE, not '${w}'`); return true; })
  .option("v", { alias: "invert", type: "boolean", default: false, describe: "pass the records that do not match" })
  .option("c", { alias: "count", type: "boolean", default: false, describe: "print only the number of matching records" })
  .option("exit-status", { type: "boolean", default: false, describe: "exit 1 when nothing matched" })
  .option("headers", { type: "boolean", default: true, describe: "pass run, end and profile records through (--no-headers: drop them)" })
  .conflicts("ok", "failed")
  .example("trace-run -- make | trace-filter --files --op write", "what a build writes")
  .example("trace-filter --failed --errno EACCES run.ndjson", "what was denied")
  .example("trace-filter --network --port 443 -c events.ndjson", "how many calls touched port 443")
  .example("trace-filter --path '/etc/**' --not-path '/etc/ld.so.cache' profile.ndjson", "a profile narrowed to /etc")
  .example("trace-summarize --format verdict run.ndjson | trace-filter --where changes=true -c", "1 if the run changed the system")
  .parseSync();

const kinds = (["files:file", "network:net", "exec:exec", "process:proc", "creds:cred", "privileged:priv", "ipc:ipc"] as const)
  .filter((k) => a[k.split(":")[0] as "files"]).map((k) => k.split(":")[1]);

await main(prog, async () => {
  const keep = buildPredicate({
    kinds, op: a.op, syscall: a.syscall, pid: a.pid, comm: a.comm, container: a.container,
    ok: a.ok ? true : a.failed ? false : undefined, errno: a.errno, path: a.path, notPath: a["not-path"], addr: a.addr, port: a.port, where: a.where, invert: a.v,
  });
  const out = new RecordWriter();
  let n = 0;
  const res = await readRecords(tell(prog), a._.map(String), (r, text) => {
    if (CONTEXT_TYPES.has(r.type) || r.type === "unparsed") { if (a.headers && !a.c) out.writeLine(text); return; }
    if (!keep(r)) return;
    n++;
    if (!a.c) out.writeLine(text);
  }, async () => { await out.flush(); return !out.closed; });
  if (a.c) process.stdout.write(n + "\n");
  await out.end();
  if (res.badFiles || res.badLines) return EXIT_TROUBLE;
  return a["exit-status"] && n === 0 ? EXIT_NO : EXIT_OK;
});
