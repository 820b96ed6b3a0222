// Bundle the CLI (src/cli/main.ts and everything it imports) into dist/cli.mjs with esbuild, so
// that bin/tsqemu.mjs starts without transpiling the TypeScript sources at every run (measured:
// `tsqemu -version` 0.13 s from the bundle, 0.34-0.41 s through tsx). npm runs this on `npm ci` /
// `npm install` (the `prepare` script); `npm run build` after editing src/. Plain JavaScript: it
// runs before anything else is built. Packages stay external (koffi is loaded from node_modules).
import { build } from "esbuild";

const outfile = process.argv[2] ?? new URL("../dist/cli.mjs", import.meta.url).pathname;
await build({
  entryPoints: [new URL("../src/cli/main.ts", import.meta.url).pathname],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  logLevel: "warning",
});
