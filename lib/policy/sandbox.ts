// trace-sandbox's work: read a Landlock ruleset (the JSON trace-policy --format landlock writes),
// turn it into the enforcer's rule lines, run COMMAND under it and pass on its status.

import { spawn } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { fileURLToPath } from "node:url";
import { encodeBytes } from "../io/bytes.js";
import { UserError } from "../errors.js";
import { FS_RIGHTS, NET_RIGHTS, SCOPES } from "./landlock.js";

/** trace-sandbox's own failures (126, 127 and 128+N are the command's). */
export const EXIT_SANDBOX_FAILED = 125;

const fail = (msg: string) => new UserError(msg, EXIT_SANDBOX_FAILED);

function mask(names: unknown, table: typeof FS_RIGHTS, where: string, abi: number): number {
  if (!Array.isArray(names) || !names.length) throw fail(`${where}: not a list of rights`);
  let m = 0;
  for (const n of names) {
    if (n === "abi.all") { for (const r of Object.values(table)) if (r.abi <= abi) m |= r.bit; continue; }
    const r = typeof n === "string" ? table[n] : undefined;
    if (!r) throw fail(`${where}: ${JSON.stringify(n)}: not a right trace-sandbox knows`);
    m |= r.bit;
  }
  return m;
}

/** The enforcer's input for a ruleset (see sandbox/landlock-exec.c): paths in hex, so every byte is exact. */
export function enforcerRules(policy: unknown, strict = false, maxAbi?: number): string {
  if (!policy || typeof policy !== "object" || Array.isArray(policy)) throw fail("the policy is not a JSON object");
  const p = policy as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!["abi", "ruleset", "pathBeneath", "netPort"].includes(k)) throw fail(`the policy's "${k}": not a field trace-sandbox knows`);
  const abi = p.abi === undefined ? 1 : p.abi;
  if (typeof abi !== "number" || !Number.isInteger(abi) || abi < 1) throw fail("the policy's abi: not a positive integer");
  if (!Array.isArray(p.ruleset) || !p.ruleset.length) throw fail("the policy has no ruleset (nothing would be restricted)");
  let fs = 0, net = 0, scoped = 0;
  p.ruleset.forEach((r: Record<string, unknown>, i) => {
    if (r.handledAccessFs !== undefined) fs |= mask(r.handledAccessFs, FS_RIGHTS, `ruleset[${i}].handledAccessFs`, abi);
    if (r.handledAccessNet !== undefined) net |= mask(r.handledAccessNet, NET_RIGHTS, `ruleset[${i}].handledAccessNet`, abi);
    if (r.scoped !== undefined) scoped |= mask(r.scoped, SCOPES, `ruleset[${i}].scoped`, abi);
  });
  const out = [`ruleset ${fs} ${net} ${scoped}`];
  if (strict) out.push("strict");
  if (maxAbi !== undefined) out.push(`maxabi ${maxAbi}`);
  for (const [i, r] of ((p.pathBeneath ?? []) as Record<string, unknown>[]).entries()) {
    const m = mask(r.allowedAccess, FS_RIGHTS, `pathBeneath[${i}].allowedAccess`, abi);
    if ((m & fs) !== m) throw fail(`pathBeneath[${i}]: allows rights the ruleset does not handle`);
    if (!Array.isArray(r.parent) || !r.parent.length) throw fail(`pathBeneath[${i}].parent: not a list of paths`);
    for (const path of r.parent) {
      if (typeof path !== "string" || !path || path.includes("\0")) throw fail(`pathBeneath[${i}].parent: ${JSON.stringify(path)}: not a path`);
      out.push(`path ${m} ${encodeBytes(path).toString("hex")}`);
    }
  }
  for (const [i, r] of ((p.netPort ?? []) as Record<string, unknown>[]).entries()) {
    const m = mask(r.allowedAccess, NET_RIGHTS, `netPort[${i}].allowedAccess`, abi);
    if ((m & net) !== m) throw fail(`netPort[${i}]: allows rights the ruleset does not handle`);
    if (!Array.isArray(r.port) || !r.port.length) throw fail(`netPort[${i}].port: not a list of ports`);
    for (const port of r.port) {
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw fail(`netPort[${i}].port: ${JSON.stringify(port)}: not a TCP port`);
      out.push(`port ${m} ${port}`);
    }
  }
  return out.join("\n") + "\n";
}

const ENFORCER = fileURLToPath(new URL(import.meta.url.includes("/dist/") ? "../../landlock-exec" : "../../dist/landlock-exec", import.meta.url));

/** Runs `command` under the ruleset in `policyFile`; resolves to its status (128+N when killed by signal N). */
export async function runSandboxed(policyFile: string, command: string[], strict: boolean, maxAbi?: number): Promise<number> {
  let text: string;
  try { text = readFileSync(policyFile, "utf8"); } catch (e) { throw fail(`${policyFile}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "No such file or directory" : (e as Error).message}`); }
  let policy: unknown;
  try { policy = JSON.parse(text); } catch (e) { throw fail(`${policyFile}: not JSON: ${(e as Error).message}`); }
  const rules = enforcerRules(policy, strict, maxAbi);
  try { accessSync(ENFORCER, constants.X_OK); } catch {
    throw fail("the Landlock enforcer (dist/landlock-exec) is not built: install a C compiler (apt-get install gcc) and run npm run build");
  }
  const child = spawn(ENFORCER, command, { stdio: ["inherit", "inherit", "inherit", "pipe"] });
  // the terminal's ^C and ^\ reach the command itself (same process group); TERM and HUP sent to us are passed on
  const ignore = () => {};
  const forward = (sig: NodeJS.Signals) => () => { child.kill(sig); };
  const handlers: [NodeJS.Signals, () => void][] = [["SIGINT", ignore], ["SIGQUIT", ignore], ["SIGTERM", forward("SIGTERM")], ["SIGHUP", forward("SIGHUP")]];
  for (const [s, h] of handlers) process.on(s, h);
  const pipe = child.stdio[3] as NodeJS.WritableStream;
  pipe.on("error", () => { /* the enforcer ended early: its status says why */ });
  pipe.end(rules);
  const status = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on("error", (e) => reject(fail(`${ENFORCER}: ${e.message}`)));
    child.on("close", (code, signal) => resolve({ code, signal }));
  });
  for (const [s, h] of handlers) process.off(s, h);
  if (status.signal) return 128 + (osConstants.signals[status.signal] ?? 15);
  return status.code ?? EXIT_SANDBOX_FAILED;
}
