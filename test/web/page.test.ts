// The web page end to end: builds it (npm run web:build), serves it with Vite's preview server on a
// free localhost port, drives Debian's Chromium (headless, through playwright-core; no browser is
// downloaded) to boot the default guest, and checks the terminal, the status line, the buttons and
// the monitor panel. Saves a screenshot to test/artifacts/web-boot.png.
//
// Needs `apt-get install chromium` and the default guest (`npm run guests`); .ci/run does both.
// TSQEMU_WEB_TIMEOUT_S (default 170) bounds the whole run; TSQEMU_CHROMIUM overrides the browser.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import type { PreviewServer } from "vite";
import { defaultGuestPaths } from "../../src/util/guest-cache.ts";
import type { PageApi } from "../../web/protocol.ts";

declare global {
  interface Window {
    tsqemu: PageApi;
  }
}

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const CHROMIUM = process.env.TSQEMU_CHROMIUM ?? "/usr/bin/chromium";
const BUDGET_MS = Number(process.env.TSQEMU_WEB_TIMEOUT_S ?? 240) * 1000;
const SCREENSHOT = join(ROOT, "test/artifacts/web-boot.png");
const T0 = performance.now();
/** Time left until the whole test's budget runs out, keeping `reserve` ms for the steps after. */
const remaining = (reserve: number) => Math.max(5_000, BUDGET_MS - (performance.now() - T0) - reserve);

/**
 * The page boots with kqemu in full virtualization mode (the Engine selector), which reaches the
 * shell in about 2 minutes here; the shell step is a real requirement within the default budget.
 */
const SHELL_TODO = false;

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", rej);
    child.on("exit", (code) =>
      code === 0 ? res(out) : rej(new Error(`${cmd} ${args.join(" ")} failed (${code}):\n${out}`)),
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** The last lines of the terminal, for failure messages. */
async function terminalTail(page: Page, lines = 25): Promise<string> {
  const text = await page.evaluate(() => window.tsqemu.terminalText());
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** Wait until the terminal shows `pattern`; fail early (with what the terminal shows) on a panic. */
async function waitForTerminal(
  page: Page,
  pattern: RegExp,
  timeoutMs: number,
  what: string,
): Promise<string> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    // Trailing blanks are trimmed (xterm pads rows), so a prompt "tsqemu:~# " ends the text as "#".
    const text = (await page.evaluate(() => window.tsqemu.terminalText())).trimEnd();
    if (pattern.test(text)) return text;
    const state = await page.evaluate(() => window.tsqemu.status()?.state ?? "not started");
    const panic = /Kernel panic - not syncing[^\n]*/.exec(text);
    if (panic || state === "stopped" || performance.now() > end) {
      const why = panic
        ? `the guest kernel panicked (${panic[0].trim()})`
        : state === "stopped"
          ? "the machine stopped"
          : `nothing after ${(timeoutMs / 1000).toFixed(0)} s`;
      assert.fail(`${what}: ${why}; terminal tail:\n${await terminalTail(page)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("web page (Chromium, headless)", { timeout: BUDGET_MS + 60_000 }, () => {
  let server: PreviewServer | null = null;
  let context: BrowserContext | null = null;
  let page: Page;
  let userDataDir = "";
  const pageErrors: string[] = [];
  let kernelSeen = false;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install --no-install-recommends chromium`);
    const { kernel, initrd } = defaultGuestPaths();
    assert.ok(
      existsSync(kernel) && existsSync(initrd),
      `default guest missing (${kernel}): run \`npm run guests\``,
    );
    await run("npm", ["run", "--silent", "web:build"]);
    const { preview } = await import("vite");
    server = await preview({
      configFile: join(ROOT, "web/vite.config.ts"),
      logLevel: "warn",
      preview: { host: "127.0.0.1", port: await freePort(), strictPort: true },
    });
    const { chromium } = await import("playwright-core");
    userDataDir = mkdtempSync(join(tmpdir(), "tsqemu-chromium-"));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 1000 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(`console.error: ${m.text()}`);
    });
    page.on("crash", () => pageErrors.push("the page crashed"));
  });

  after(async () => {
    await context?.close().catch(() => {});
    await server?.close().catch(() => {});
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  it("loads the page and finds the default guest in the local cache", async () => {
    const url = server!.resolvedUrls?.local[0];
    assert.ok(url, "preview server URL");
    await page.goto(url);
    assert.equal(await page.title(), "tsqemu");
    await page.waitForFunction(
      () => !(document.getElementById("boot-default") as HTMLButtonElement).disabled,
      null,
      {
        timeout: 10_000,
      },
    );
    assert.match(
      (await page.textContent("#guest-info")) ?? "",
      /debian12-686 from the local cache \(\d+\.\d MiB\)/,
    );
    assert.equal(await page.inputValue("#cmdline"), "console=ttyS0");
    assert.equal(await page.textContent("#status-state"), "not started");
  });

  it("loads the images with a progress bar and starts the worker; the status line updates", async () => {
    await page.selectOption("#accel", "kqemu-full");
    await page.click("#boot-default");
    await page.waitForFunction(() => window.tsqemu.status() !== null, null, { timeout: 30_000 });
    assert.equal(await page.getAttribute("#progress-row", "hidden"), null, "progress bar shown");
    assert.equal(
      await page.evaluate(() => (document.getElementById("progress") as HTMLProgressElement).value),
      1,
    );
    assert.match(
      (await page.textContent("#progress-text")) ?? "",
      /^loaded vmlinuz and initrd\.img \(\d+\.\d MiB\)$/,
    );
    assert.equal(await page.textContent("#status-engine"), "kqemu (wasm translator) + interpreter");
    assert.equal(await page.textContent("#status-kqemu"), "full");
    // Two periodic reports: the guest executes instructions, and the MIPS figure is live.
    const first = await page.evaluate(() => window.tsqemu.status()!.instructions);
    await page.waitForFunction((n) => (window.tsqemu.status()?.instructions ?? 0) > n, first, {
      timeout: 10_000,
    });
    await page.waitForFunction(() => (window.tsqemu.status()?.mips ?? 0) > 0, null, { timeout: 10_000 });
    assert.match((await page.textContent("#status-mips")) ?? "", /^\d+\.\d MIPS \(avg \d+\.\d\)$/);
    assert.match((await page.textContent("#status-state")) ?? "", /^(running|halted)$/);
    for (const id of ["#reset", "#pause", "#power"])
      assert.equal(await page.isDisabled(id), false, `${id} enabled`);
  });

  it("pauses and resumes from the button (the page stays responsive)", async () => {
    await page.click("#pause");
    await page.waitForFunction(() => window.tsqemu.status()?.state === "paused", null, { timeout: 10_000 });
    assert.equal(await page.textContent("#pause"), "Resume");
    const n = await page.evaluate(() => window.tsqemu.status()!.instructions);
    await page.waitForTimeout(1200);
    assert.equal(
      await page.evaluate(() => window.tsqemu.status()!.instructions),
      n,
      "no instructions while paused",
    );
    // The page's own thread is free while the worker runs: a round trip through the event loop is quick.
    const lag = await page.evaluate(
      () =>
        new Promise<number>((r) => {
          const t = performance.now();
          setTimeout(() => r(performance.now() - t), 0);
        }),
    );
    assert.ok(lag < 200, `page event loop lag ${lag} ms`);
    await page.click("#pause");
    await page.waitForFunction((m) => (window.tsqemu.status()?.instructions ?? 0) > m, n, {
      timeout: 10_000,
    });
    assert.equal(await page.textContent("#pause"), "Pause");
  });

  it("answers info kqemu in the monitor panel", async () => {
    await page.fill("#monitor-input", "info kqemu");
    await page.press("#monitor-input", "Enter");
    await page.waitForFunction(
      () => window.tsqemu.monitorText().includes("kqemu support: enabled for user and kernel code"),
      null,
      {
        timeout: 10_000,
      },
    );
    const text = await page.evaluate(() => window.tsqemu.monitorText());
    assert.match(text, /QEMU 0\.1\.0 \(tsqemu\) monitor/);
    assert.match(
      text,
      /\(qemu\) info kqemu\nkqemu support: enabled for user and kernel code\ncompiled code: \d+ guest instructions/,
    );
    await page.fill("#monitor-input", "info cpus");
    await page.press("#monitor-input", "Enter");
    await page.waitForFunction(() => /\* CPU #0: pc=0x[0-9a-f]{8}/.test(window.tsqemu.monitorText()), null, {
      timeout: 10_000,
    });
  });

  it("shows the kernel booting in the terminal (Linux version)", async () => {
    const text = await waitForTerminal(page, /Linux version \S+/, remaining(30_000), "kernel banner");
    kernelSeen = true;
    assert.match(text, /Linux version 6\.1\.\S+-686/);
  });

  it("types uname -a at the shell and gets the answer", { todo: SHELL_TODO }, async () => {
    assert.ok(kernelSeen, "no kernel output, so no shell either");
    await waitForTerminal(
      page,
      /tsqemu: \/init started[\s\S]*\n[^\n]*[#$]$/,
      remaining(25_000),
      "shell prompt",
    );
    await page.click("#terminal");
    await page.keyboard.type("uname -a\n");
    await waitForTerminal(
      page,
      /uname -a\s*\n\s*Linux tsqemu 6\.1\.\S+ .*i686/,
      20_000,
      "answer to uname -a",
    );
  });

  it("takes a screenshot", async () => {
    mkdirSync(join(ROOT, "test/artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.ok(existsSync(SCREENSHOT));
  });

  it("powers off: ACPI power button, then a forced stop", async () => {
    await page.click("#power");
    await page.waitForFunction(() => document.getElementById("message")?.className === "info", null, {
      timeout: 5_000,
    });
    await page.click("#power");
    await page.waitForFunction(() => window.tsqemu.status()?.state === "stopped", null, { timeout: 10_000 });
    assert.equal(await page.textContent("#status-state"), "stopped (quit)");
    assert.equal(await page.isDisabled("#boot-default"), false, "can boot again");
  });

  it("had no page errors", async () => {
    const message = await page.evaluate(() => {
      const m = document.getElementById("message")!;
      return m.hidden || m.className === "info" ? "" : (m.textContent ?? "");
    });
    assert.equal(message, "", "error shown on the page");
    assert.deepEqual(pageErrors, []);
  });
});
