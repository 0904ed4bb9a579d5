#!/usr/bin/env node
// Builds the batched eBPF backend once, at npm run build: the kernel's types (vmlinux.h, from its BTF),
// the call table (from lib/bpf/program.ts), the CO-RE program (clang -target bpf), its skeleton
// (bpftool) and the loader (cc + libbpf) into dist/leastpriv-bpf. Without the toolchain the build goes
// on and leaves dist/bpf/unavailable, one line saying what to install, for the backend to repeat.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { arch } from "node:os";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = root + "dist/bpf/";
const note = out + "unavailable";
mkdirSync(out, { recursive: true });
rmSync(note, { force: true });
// the checks an earlier loader passed (lib/bpf/check.ts): a new loader is checked again
rmSync(out + "checked", { force: true });

const INSTALL = "apt-get install clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev";
function fail(why) {
  // a loader left from an earlier build would be of another source, or another kernel's types
  rmSync(root + "dist/leastpriv-bpf", { force: true });
  writeFileSync(note, `${why}: install the eBPF toolchain (Debian/Ubuntu: ${INSTALL}) and run npm run build again\n`);
  process.stderr.write(`bpf/build.mjs: ${why}: the batched eBPF backend is not built (${INSTALL})\n`);
  process.exit(0);
}
function step(what, cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "buffer", maxBuffer: 1 << 28, ...opts });
  if (r.error) fail(`${cmd} is not installed (${what})`);
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    fail(`${what} failed (${cmd} exit ${r.status})`);
  }
  return r.stdout;
}

const a = arch();
if (a !== "x64" && a !== "arm64") fail(`no system call table for ${a}`);
const target = a === "arm64" ? "arm64" : "x86";
const tableArch = a === "arm64" ? "aarch64" : "x86_64";
if (!existsSync("/sys/kernel/btf/vmlinux")) fail("this kernel has no BTF (/sys/kernel/btf/vmlinux)");
if (!existsSync("/usr/include/bpf/libbpf.h")) fail("libbpf's headers are not installed (libbpf-dev)");

// the call table: which calls, and where their strings, addresses, fd pairs and flag pointers are
const { BPF_CALLS, extrasOf } = await import(root + "dist/lib/bpf/program.js");
const FLAGS = { execve: 1, execveat: 2, fcntl: 4, clone: 8, clone3: 16, vfork: 32, fork: 64 };
const rows = [];
for (const c of BPF_CALLS) {
  const nr = c.nr[tableArch];
  if (nr < 0) continue;
  const ex = extrasOf(c);
  const s = ex.filter((e) => e.kind === "s").map((e) => e.arg + 1);
  const one = (k) => (ex.find((e) => e.kind === k)?.arg ?? -1) + 1;
  rows.push(`  { ${nr}, { 1, ${FLAGS[c.name] ?? 0}, { ${[0, 1, 2].map((i) => s[i] ?? 0).join(", ")} }, ${one("a")}, ${one("m")}, ${one("p")}, ${one("f")}, {0} } },  /* ${c.name} */`);
}
// the exec calls' numbers, for the kernel side's exec probes
const execNr = (name) => BPF_CALLS.find((c) => c.name === name).nr[tableArch];
writeFileSync(out + "nr.h", `/* written by bpf/build.mjs from lib/bpf/program.ts */
#define LP_NR_EXECVE ${execNr("execve")}
#define LP_NR_EXECVEAT ${execNr("execveat")}
`);
writeFileSync(out + "calls.h", `/* written by bpf/build.mjs from lib/bpf/program.ts */
#define LP_ARCH "${tableArch}"
static const struct { uint32_t nr; struct lp_call c; } lp_calls[] = {
${rows.join("\n")}
};
`);

writeFileSync(out + "vmlinux.h", step("reading the kernel's BTF", "bpftool", ["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"]));
step("compiling the BPF program", "clang", ["-g", "-O2", "-target", "bpf", `-D__TARGET_ARCH_${target}`, "-Wall", "-Werror",
  "-I", out, "-I", root + "bpf", "-c", root + "bpf/leastpriv.bpf.c", "-o", out + "leastpriv.bpf.o"]);
writeFileSync(out + "leastpriv.skel.h", step("writing the skeleton", "bpftool", ["gen", "skeleton", out + "leastpriv.bpf.o"]));
const cc = process.env.CC || "cc";
step("compiling the loader", cc, ["-O2", "-Wall", "-Wextra", "-Werror", "-I", out, "-I", root + "bpf",
  root + "bpf/loader.c", "-o", root + "dist/leastpriv-bpf", "-lbpf", "-lelf", "-lz"], { stdio: ["ignore", "inherit", "pipe"] });
