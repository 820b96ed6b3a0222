// The /guest/ middleware of the web servers (web/guest-server.ts) against a temporary guest cache:
// info.json says whether the default guest is there, the files come with Content-Length (the
// page's progress bar needs it), a missing guest answers 404 with the command that fetches it.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { guestMiddleware } from "../../web/guest-server.ts";

describe("web guest middleware", () => {
  const root = mkdtempSync(join(tmpdir(), "tsqemu-guest-"));
  let server: Server;
  let base = "";
  const kernel = Uint8Array.from({ length: 70_000 }, (_, k) => (k * 7) & 0xff);

  before(async () => {
    const mw = guestMiddleware(root);
    server = createServer((req, res) =>
      mw(req, res, () => {
        res.statusCode = 418;
        res.end("next");
      }),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  });
  after(() => {
    server.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("reports a missing guest and tells how to get it", async () => {
    const info = await (await fetch(`${base}/guest/info.json`)).json();
    assert.equal(info.available, false);
    assert.deepEqual(info.files, {});
    assert.match(info.hint, /npm run guests/);
    const res = await fetch(`${base}/guest/vmlinuz`);
    assert.equal(res.status, 404);
    assert.match(await res.text(), /npm run guests/);
  });

  it("serves the cached files with their sizes", async () => {
    const dir = join(root, "debian12-686");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "vmlinuz"), kernel);
    writeFileSync(join(dir, "initrd.img"), "initrd");
    const info = await (await fetch(`${base}/guest/info.json`)).json();
    assert.deepEqual(info, {
      available: true,
      name: "debian12-686",
      cmdline: "console=ttyS0",
      files: { vmlinuz: kernel.length, "initrd.img": 6 },
    });
    const res = await fetch(`${base}/guest/vmlinuz`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), String(kernel.length));
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), kernel);
    assert.equal(await (await fetch(`${base}/guest/initrd.img`)).text(), "initrd");
  });

  it("serves nothing else from the cache and passes other paths on", async () => {
    assert.equal((await fetch(`${base}/guest/manifest.json`)).status, 404);
    assert.equal((await fetch(`${base}/guest/..%2fdebian12-686%2fvmlinuz`)).status, 404);
    const other = await fetch(`${base}/index.html`);
    assert.equal(other.status, 418);
    assert.equal((await fetch(`${base}/guest/vmlinuz`, { method: "POST" })).status, 405);
  });
});
