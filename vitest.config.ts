import { defineConfig } from "vitest/config";
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"], testTimeout: 30000, reporters: ["default", "./test/closing-line-reporter.ts"],
    // one build for the whole suite, before any test file runs (the e2e tests spawn dist/)
    globalSetup: ["./test/global-setup.ts"],
    // the e2e files share what a host has once: containerd takes one tracer at a time (a second
    // `trace-run -- docker run` under strace is refused), and the grant tests change host ACLs and
    // accounts; files run one at a time everywhere, as they already do on a 2-CPU machine
    fileParallelism: false,
  },
});
