#!/usr/bin/env node
// Builds trace-sandbox's enforcer (sandbox/landlock-exec.c) into dist/landlock-exec with the C
// compiler on PATH. Without one the build goes on: trace-sandbox then says what to install.

import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
mkdirSync(root + "dist", { recursive: true });
const cc = process.env.CC || "cc";
const r = spawnSync(cc, ["-O2", "-Wall", "-Wextra", "-Werror", "-o", root + "dist/landlock-exec", root + "sandbox/landlock-exec.c"], { stdio: "inherit" });
if (r.error || r.status !== 0) {
  process.stderr.write(`sandbox/build.mjs: ${cc} could not build dist/landlock-exec (${r.error?.message ?? "exit " + r.status}): trace-sandbox will not run until a C compiler is installed (apt-get install gcc) and npm run build is run again\n`);
}
