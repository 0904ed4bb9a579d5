// Builds the project once for the whole suite (what `npm run build` does: tsc, the sandbox's enforcer,
// and whatever it comes to do), since the end-to-end tests spawn dist/ and must not run stale code.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  try {
    execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`npm run build failed, so no test can run:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
}
