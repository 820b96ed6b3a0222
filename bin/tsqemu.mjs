#!/usr/bin/env node
// Entry point. The CLI runs from its bundle, dist/cli.mjs (scripts/build-cli.mjs: `npm ci` makes
// it, `npm run build` remakes it), when the bundle is newer than every file under src/; otherwise
// (a checkout being edited, or no bundle) from the TypeScript sources, loaded through tsx.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bundle = join(root, "dist", "cli.mjs");

function newestUnder(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestUnder(p) : statSync(p).mtimeMs);
  }
  return t;
}

let main;
if (existsSync(bundle) && statSync(bundle).mtimeMs >= newestUnder(join(root, "src"))) {
  ({ main } = await import(bundle));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/main.ts"));
}
process.exitCode = await main(process.argv.slice(2));
