// The CLI bundle (scripts/build-cli.mjs, what bin/tsqemu.mjs runs when it is fresh) behaves as the
// TypeScript sources do: built into a temporary file here, then asked for its version and given an
// unknown option, beside the sources loaded through tsx.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function runMain(entry: string, args: string[], viaTsx: boolean) {
  const code = `import { main } from ${JSON.stringify(entry)}; process.exitCode = await main(${JSON.stringify(args)});`;
  const r = spawnSync(
    process.execPath,
    [...(viaTsx ? ["--import", "tsx"] : []), "--input-type=module", "-e", code],
    { cwd: ROOT, encoding: "utf8" },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("the CLI bundle answers as the sources do (version, an unknown option)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsqemu-bundle-"));
  try {
    const out = join(dir, "cli.mjs");
    const b = spawnSync(process.execPath, [join(ROOT, "scripts", "build-cli.mjs"), out], {
      encoding: "utf8",
    });
    assert.equal(b.status, 0, b.stderr);
    const src = join(ROOT, "src", "cli", "main.ts");
    for (const args of [["-version"], ["-no-such-option"]]) {
      const fromBundle = runMain(out, args, false);
      const fromSources = runMain(src, args, true);
      assert.deepEqual(fromBundle, fromSources, `tsqemu ${args.join(" ")}`);
    }
    assert.match(runMain(out, ["-version"], false).stdout, /tsqemu/);
    assert.notEqual(runMain(out, ["-no-such-option"], false).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
