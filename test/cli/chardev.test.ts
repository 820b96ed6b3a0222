// Character devices as a user meets them: the stdio mux and its Ctrl-A escapes, -serial file:,
// and TCP / unix socket servers for the serial port and the monitor, with real socket clients.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MUX_HELP, OutputBuffer } from "../../src/cli/chardev.ts";
import {
  connectRetry,
  echoKernel,
  freePort,
  monitorCommand,
  runTsqemu,
  socketReader,
  tempDir,
  tsqemu,
  writeTemp,
} from "./fixtures.ts";

const echo = writeTemp("chr-echo.bzImage", echoKernel());
const BANNER = "QEMU 0.1.0 (tsqemu) monitor - type 'help' for more information\r\n(qemu) ";

describe("output buffer (UART bytes to a host stream)", () => {
  it("gathers a turn's bytes and strings in order into one write, after the turn or at flush()", async () => {
    const writes: string[] = [];
    const out = new OutputBuffer((d) => writes.push(Buffer.from(d).toString("latin1")));
    for (const ch of "abc") out.byte(ch.charCodeAt(0));
    out.write("[mon]");
    for (let k = 0; k < 5000; k++) out.byte(0x30 + (k % 10)); // past the first buffer's size
    assert.equal(writes.length, 0, "nothing is written within the turn");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 1);
    assert.equal(writes[0].slice(0, 8), "abc[mon]");
    assert.equal(writes[0].length, 8 + 5000);
    assert.equal(writes[0].slice(-3), "789");
    out.byte(0x7a);
    out.flush();
    assert.deepEqual(writes.slice(1), ["z"], "flush() writes at once");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 2, "and the turn's end has nothing left to write");
  });
});

describe("stdio mux: Ctrl-A escapes", { concurrency: 2 }, () => {
  it("Ctrl-A h prints the escape list", async () => {
    const r = tsqemu(["-kernel", echo, "-nographic"]);
    await r.waitFor("HELLO\r\n\r\n");
    r.write("\x01h");
    await r.waitFor("C-a C-a  sends C-a\r\n");
    assert.equal(r.stdout, `HELLO\r\n\r\n\r\n${MUX_HELP}\r\n`);
    for (const k of ["h", "x", "s", "t", "b", "c"])
      assert.match(MUX_HELP, new RegExp(`^C-a ${k} {4}\\S`, "m"));
    r.write("q");
    assert.equal((await r.exit()).code, 0);
  });

  it("Ctrl-A x terminates: QEMU: Terminated, exit status 0", async () => {
    const r = tsqemu(["-kernel", echo, "-nographic"]);
    await r.waitFor("HELLO\r\n");
    r.write("\x01x");
    const e = await r.exit();
    assert.equal(e.code, 0);
    assert.equal(e.stdout, "HELLO\r\n\r\nQEMU: Terminated\r\n");
    assert.equal(e.stderr, "");
  });

  it("Ctrl-A Ctrl-A sends Ctrl-A to the guest; other keys after Ctrl-A pass through", async () => {
    const r = tsqemu(["-kernel", echo, "-nographic"]);
    await r.waitFor("HELLO\r\n\r\n");
    r.write("a\x01\x01b\x01z");
    await r.waitFor("a\x01b\x01z");
    r.write("q");
    const e = await r.exit();
    assert.equal(e.stdout, "HELLO\r\n\r\na\x01b\x01z");
    assert.equal(e.code, 0);
  });

  it("Ctrl-A c switches to the monitor and back; keys go to the focused side", async () => {
    const r = tsqemu(["-kernel", echo, "-nographic"]);
    await r.waitFor("HELLO\r\n\r\n");
    r.write("\x01c");
    await r.waitFor(BANNER);
    assert.equal(await monitorCommand(r, "info status"), "VM status: running\n");
    r.write("\x01c");
    const from = r.stdout.length;
    r.write("xyz");
    await r.waitFor("xyz", { from });
    assert.ok(!r.stdout.slice(from).includes("unknown command"), "xyz went to the guest, not the monitor");
    r.write("q");
    assert.equal((await r.exit()).code, 0);
  });

  it("Ctrl-A t toggles timestamps on console output", async () => {
    const r = tsqemu(["-kernel", echo, "-nographic"]);
    await r.waitFor("HELLO\r\n\r\n");
    r.write("\x01t");
    await new Promise((res) => setTimeout(res, 50));
    r.write("ab\r\n");
    await r.waitFor(/\[ +\d+\.\d{3}\] ab\r\n$/);
    r.write("\x01tcd");
    await r.waitFor(/\] ab\r\ncd$/);
    r.write("q");
    assert.equal((await r.exit()).code, 0);
  });

  it("Ctrl-A b sends a break (the guest reads a NUL with LSR.BI)", async () => {
    const r = tsqemu(["-kernel", echo, "-nographic"]);
    await r.waitFor("HELLO\r\n\r\n");
    r.write("a");
    await r.waitFor("HELLO\r\n\r\na");
    r.write("\x01b");
    await r.waitFor("a\0");
    r.write("q");
    const e = await r.exit();
    assert.equal(e.stdout, "HELLO\r\n\r\na\0");
    assert.equal(e.code, 0);
  });
});

describe("serial and monitor backends", { concurrency: 2 }, () => {
  it("-serial file:PATH receives the guest's output", async () => {
    const out = join(tempDir(), "serial.txt");
    const r = tsqemu(["-kernel", echo, "-serial", `file:${out}`, "-monitor", "stdio", "-append", "to-file"]);
    await r.waitFor("(qemu) ");
    for (let k = 0; k < 200 && !readFileSync(out, "latin1").includes("to-file\r\n"); k++)
      await new Promise((res) => setTimeout(res, 20));
    r.write("system_powerdown\n");
    const e = await r.exit();
    assert.equal(e.code, 0);
    assert.equal(readFileSync(out, "latin1"), "HELLO\r\nto-file\r\n");
  });

  for (const kind of ["tcp", "unix"] as const)
    it(`-serial ${kind === "tcp" ? "tcp::PORT" : "unix:PATH"},server,nowait: a ${kind === "tcp" ? "TCP" : "unix-socket"} client talks to the guest`, async () => {
      const target = kind === "tcp" ? await freePort() : join(tempDir(), "ser.sock");
      const r = tsqemu([
        "-kernel",
        echo,
        "-serial",
        `${kind}:${kind === "tcp" ? ":" : ""}${target},server,nowait`,
      ]);
      const s = await connectRetry(target);
      const rd = socketReader(s);
      s.write("ping");
      await rd.waitFor("ping");
      s.write("q");
      const e = await r.exit();
      s.destroy();
      assert.equal(e.code, 0);
      assert.equal(e.stdout, "");
      assert.equal(e.stderr, "");
    });

  it("-serial tcp::PORT,server (wait): waits for the client, which sees the whole boot output", async () => {
    const port = await freePort();
    const r = tsqemu(["--kernel", echo, "--serial", `tcp::${port},server`, "--append", "waited"]);
    await r.waitFor(`QEMU waiting for connection on: disconnected:tcp::${port},server\n`, {
      stream: "stderr",
    });
    const s = await connectRetry(port);
    const rd = socketReader(s);
    await rd.waitFor("HELLO\r\nwaited\r\n");
    s.write("q");
    const e = await r.exit();
    s.destroy();
    assert.equal(e.code, 0);
    assert.equal(rd.text, "HELLO\r\nwaited\r\n");
  });

  it("-monitor tcp::PORT,server,nowait: a TCP client drives the monitor", async () => {
    const port = await freePort();
    const r = tsqemu(["-kernel", echo, "-monitor", `tcp::${port},server,nowait`]);
    const s = await connectRetry(port);
    const rd = socketReader(s);
    await rd.waitFor(BANNER);
    s.write("info status\r\n");
    await rd.waitFor("VM status: running\r\n(qemu) ");
    s.write("quit\n");
    const e = await r.exit();
    s.destroy();
    assert.equal(e.code, 0);
    assert.equal(rd.text, `${BANNER}VM status: running\r\n(qemu) `);
  });

  it("-monitor unix:PATH,server,nowait: a unix-socket client drives the monitor (stale socket file replaced)", async () => {
    const path = join(tempDir(), "mon.sock");
    writeFileSync(path, "stale");
    const r = tsqemu(["-kernel", echo, "-monitor", `unix:${path},server,nowait`, "-S"]);
    const s = await connectRetry(path);
    const rd = socketReader(s);
    await rd.waitFor(BANNER);
    s.write("info status\n");
    await rd.waitFor("VM status: paused\r\n(qemu) ");
    s.write("p 6 * 7\n");
    await rd.waitFor("0x2a\r\n(qemu) ");
    s.write("info kqemu\n");
    await rd.waitFor("kqemu support: enabled for user code\r\n");
    await rd.waitFor("(qemu) ");
    s.write("nope\n");
    await rd.waitFor("unknown command: 'nope'\r\n(qemu) ");
    s.write("q\n");
    const e = await r.exit();
    s.destroy();
    assert.equal(e.code, 0);
    assert.equal(e.stdout, "");
  });

  it("a port already in use: one line, exit status 1", async () => {
    const busy = createServer();
    await new Promise<void>((res) => busy.listen(0, "127.0.0.1", res));
    const a = busy.address();
    const port = typeof a === "object" && a ? a.port : 0;
    const e = await runTsqemu(["-kernel", echo, "-monitor", `tcp:127.0.0.1:${port},server,nowait`]);
    busy.close();
    assert.equal(
      e.stderr,
      `tsqemu: -monitor tcp:127.0.0.1:${port},server,nowait: Failed to bind socket: Address already in use\n`,
    );
    assert.equal(e.code, 1);
  });
});
