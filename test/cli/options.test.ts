// The command line as a user meets it: `node bin/tsqemu.mjs ...` spawned with pipes, every option,
// every error path with its exact one-line message and exit status.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { LOG_ITEMS, VERSION_TEXT } from "../../src/cli/options.ts";
import {
  echoKernel,
  loopKernel,
  monitorCommand,
  runTsqemu,
  shortKernel,
  tempDir,
  tripleFaultKernel,
  tsqemu,
  undefinedOpcodeKernel,
  writeTemp,
} from "./fixtures.ts";

const echo = writeTemp("echo.bzImage", echoKernel());
const loop = loopKernel();
const loopImg = writeTemp("loop.bzImage", loop.image);
const short = writeTemp("short.bzImage", shortKernel());
const triple = writeTemp("triple.bzImage", tripleFaultKernel());
const ud = undefinedOpcodeKernel();
const udImg = writeTemp("ud.bzImage", ud.image);
const initrd = writeTemp("initrd.img", "INITRD-OK\r\n\0");
const textFile = writeTemp("not-a-kernel.txt", "this is not a kernel\n".repeat(100));
const dirPath = join(tempDir(), "a-directory");
mkdirSync(dirPath, { recursive: true });

/** No stack traces, ever: one line on stderr. */
function assertOneLine(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m, "stack trace on stderr");
  assert.equal(stderr.split("\n").filter((l) => l !== "").length, 1, `one line expected: ${stderr}`);
}

describe("informational options", { concurrency: 2 }, () => {
  for (const opt of ["-version", "--version"]) {
    it(`${opt} prints the version and exits 0`, async () => {
      const r = await runTsqemu([opt]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `${VERSION_TEXT}\n`);
      assert.match(r.stdout, /^tsqemu emulator version \d+\.\d+\.\d+ /);
      assert.equal(r.stderr, "");
    });
  }
  for (const opt of ["-h", "--help"]) {
    it(`${opt} prints the usage with every option and exits 0`, async () => {
      const r = await runTsqemu([opt]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^usage: tsqemu \[options\]\n/);
      for (const o of [
        "-m megs",
        "-kernel",
        "-initrd",
        "-append",
        "-nographic",
        "-serial",
        "-monitor",
        "-accel",
        "-no-kqemu",
        "-enable-kqemu",
        "-kernel-kqemu",
        "-enable-kvm",
        "-no-reboot",
        "-no-shutdown",
        "-S ",
        "-d item1",
        "-D logfile",
        "-name",
        "-version",
        "-h or -help",
      ])
        assert.ok(r.stdout.includes(`\n${o}`), `help lacks ${o}`);
    });
  }
  for (const opt of ["--d"]) {
    it(`${opt} help lists every log item`, async () => {
      const r = await runTsqemu([opt, "help"]);
      assert.equal(r.code, 0);
      const lines = r.stdout.trimEnd().split("\n");
      assert.equal(lines[0], "Log items (comma separated):");
      assert.deepEqual(
        lines.slice(1).map((l) => l.split(/\s+/)[0]),
        ["in_asm", "int", "exec", "cpu", "cpu_reset", "guest_errors", "unimp"],
      );
      assert.ok(lines.includes(`in_asm       ${LOG_ITEMS.in_asm}`));
    });
  }
});

describe("errors: one line, exit status 1", { concurrency: 2 }, () => {
  const cases: [string[], string][] = [
    [["-foo"], "tsqemu: -foo: invalid option"],
    [["--foo"], "tsqemu: --foo: invalid option"],
    [["-m"], "tsqemu: -m: requires an argument"],
    [["-m", "foo"], "tsqemu: -m foo: invalid amount of memory"],
    [["-m", "0"], "tsqemu: -m 0: invalid amount of memory"],
    [["-m", "4G"], "tsqemu: -m 4G: at most 2047 MiB of RAM is supported for a 32-bit guest"],
    [
      ["-kernel", "/nonexistent/bzImage"],
      "tsqemu: could not load kernel '/nonexistent/bzImage': No such file or directory",
    ],
    [["-kernel", dirPath], `tsqemu: could not load kernel '${dirPath}': Is a directory`],
    [
      ["-kernel", textFile],
      `tsqemu: ${textFile}: not a bzImage (no "HdrS" setup header signature at offset 0x202)`,
    ],
    [
      ["-kernel", short, "-initrd", "/nonexistent/initrd"],
      "tsqemu: could not load initrd '/nonexistent/initrd': No such file or directory",
    ],
    [["-initrd", initrd], "tsqemu: -initrd only allowed with -kernel option"],
    [["-append", "quiet"], "tsqemu: -append only allowed with -kernel option"],
    [["-enable-kvm", "-kernel-kqemu"], "tsqemu: You can not enable both KVM and kqemu at the same time"],
    [["--enable-kvm", "--kernel-kqemu"], "tsqemu: You can not enable both KVM and kqemu at the same time"],
    [["-accel", "kvm", "-kernel-kqemu"], "tsqemu: You can not enable both KVM and kqemu at the same time"],
    [["-accel", "foo"], "tsqemu: -accel foo: invalid accelerator foo"],
    [["-serial", "foo"], "tsqemu: -serial foo: 'foo' is not a valid char driver"],
    [["-serial", "tcp::x,server"], "tsqemu: -serial tcp::x,server: invalid socket address (tcp:[host]:port)"],
    [["-serial", "file:"], "tsqemu: -serial file:: missing file name"],
    [["-monitor", "foo"], "tsqemu: -monitor foo: 'foo' is not a valid char driver"],
    [
      ["-monitor", "tcp::4444"],
      "tsqemu: -monitor tcp::4444: only server sockets are supported yet (add ,server)",
    ],
    [["-monitor", "unix:,server"], "tsqemu: -monitor unix:,server: missing socket path"],
    [
      ["-monitor", "tcp::4444,server,bogus"],
      "tsqemu: -monitor tcp::4444,server,bogus: invalid socket option 'bogus'",
    ],
    [["-d", "foo"], "tsqemu: -d foo: unknown logging item 'foo' (use -d help)"],
    [
      ["-kernel", short, "-D", "/nonexistent/dir/log"],
      "tsqemu: -D /nonexistent/dir/log: Error opening logfile: No such file or directory",
    ],
    [
      ["-kernel", short, "-serial", "file:/nonexistent/x"],
      "tsqemu: -serial file:/nonexistent/x: Could not open '/nonexistent/x': No such file or directory",
    ],
    [["disk.img"], "tsqemu: disk.img: drive images are not supported yet (no disk controller)"],
    [["-cdrom", "debian.iso"], "tsqemu: -cdrom debian.iso: option not supported by tsqemu yet"],
    [["-fda", "dos.img"], "tsqemu: -fda dos.img: option not supported by tsqemu yet"],
    [
      [],
      "tsqemu: no -kernel given: tsqemu has no BIOS yet and boots Linux kernels directly (try `npm start` for the default Debian guest)",
    ],
  ];
  for (const [args, message] of cases) {
    it(`${args.join(" ") || "(no options)"} → ${message}`, async () => {
      const r = await runTsqemu(args);
      assert.equal(r.stderr, `${message}\n`);
      assertOneLine(r.stderr);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
    });
  }
});

describe("running a kernel", { concurrency: 2 }, () => {
  it("-kernel -append -initrd -nographic: the guest prints its command line and initrd on the console", async () => {
    const r = tsqemu(["-kernel", echo, "-append", "console=ttyS0 x=1", "-initrd", initrd, "-nographic"]);
    await r.waitFor("INITRD-OK\r\n");
    r.write("hi");
    await r.waitFor("INITRD-OK\r\nhi");
    r.write("q");
    const e = await r.exit();
    assert.equal(e.stdout, "HELLO\r\nconsole=ttyS0 x=1\r\nINITRD-OK\r\nhi");
    assert.equal(e.stderr, "");
    assert.equal(e.code, 0, "ACPI power-off exits 0");
  });

  it("long forms: --kernel --append --nographic", async () => {
    const r = tsqemu(["--kernel", echo, "--append", "long", "--nographic"]);
    await r.waitFor("HELLO\r\nlong\r\n");
    r.write("q");
    assert.equal((await r.exit()).code, 0);
  });

  it("-serial stdio without -nographic", async () => {
    const r = tsqemu(["-kernel", echo, "-serial", "stdio"]);
    await r.waitFor("HELLO\r\n\r\n");
    r.write("ok q");
    const e = await r.exit();
    assert.equal(e.stdout, "HELLO\r\n\r\nok ");
    assert.equal(e.code, 0);
  });

  for (const [m, end] of [
    ["64M", "0000000003ffffff"],
    ["1G", "000000003fffffff"],
    ["32", "0000000001ffffff"],
  ] as const) {
    it(`-m ${m} sizes RAM (info mtree)`, async () => {
      const r = tsqemu(["-kernel", loopImg, "-m", m, "-S", "-monitor", "stdio"]);
      await r.waitFor("(qemu) ");
      const out = await monitorCommand(r, "info mtree");
      assert.ok(out.includes(`00000000000c0000-${end} (prio 0, ram): pc.ram`), out);
      r.write("quit\n");
      assert.equal((await r.exit()).code, 0);
    });
  }

  it("-name shows in info name", async () => {
    const r = tsqemu([
      "-kernel",
      loopImg,
      "-S",
      "--name",
      "guest=my-vm,debug-threads=on",
      "-monitor",
      "stdio",
    ]);
    await r.waitFor("(qemu) ");
    assert.equal(await monitorCommand(r, "info name"), "my-vm\n");
    r.write("q\n");
    assert.equal((await r.exit()).code, 0);
  });

  // Accelerators: kqemu (the wasm translator) runs by default in normal mode; tcg and -no-kqemu
  // select the interpreter; the kvm engine is not built, which is reported on one line.
  const accels: [string[], string, string][] = [
    [[], "", "kqemu support: enabled for user code"],
    [["-accel", "tcg"], "", "kqemu support: disabled"],
    [["-no-kqemu"], "", "kqemu support: disabled"],
    [["-accel", "kqemu"], "", "kqemu support: enabled for user code"],
    [["-enable-kqemu"], "", "kqemu support: enabled for user code"],
    [["-kernel-kqemu"], "", "kqemu support: enabled for user and kernel code"],
    [["-enable-kvm"], "KVM", "kqemu support: disabled"],
    [["-accel", "kvm"], "KVM", "kqemu support: disabled"],
    [["-enable-kvm", "-no-kqemu"], "KVM", "kqemu support: disabled"],
  ];
  for (const [args, warning, info] of accels) {
    it(`${args.join(" ") || "(default accelerator)"}: ${warning ? "a one-line warning, then" : "no warning,"} ${info}`, async () => {
      const r = tsqemu(["-kernel", echo, "-nographic", ...args]);
      await r.waitFor("HELLO\r\n", { ms: 8000 });
      r.write("\x01c");
      await r.waitFor("(qemu) ");
      // QEMU's line first; with the accelerator on, its counters follow.
      const kq = (await monitorCommand(r, "info kqemu")).split("\n");
      assert.equal(kq[0], info);
      if (info !== "kqemu support: disabled") assert.match(kq[1], /^compiled code: \d+ guest instructions/);
      assert.equal(await monitorCommand(r, "info kvm"), "kvm support: disabled\n");
      r.write("\x01cq");
      const e = await r.exit();
      assert.equal(e.code, 0);
      if (warning === "KVM")
        assert.match(
          e.stderr,
          /^(Could not initialize KVM: the kvm engine is not part of this build yet|Could not open '\/dev\/kvm' - [^\n]+), will disable KVM support \(running emulated: tcg\)\n$/,
        );
      else assert.equal(e.stderr, warning);
    });
  }

  it("-no-reboot: a triple fault dumps the CPU state on stderr and exits 1", async () => {
    const e = await runTsqemu(["-kernel", triple, "-no-reboot", "-nographic"]);
    assert.equal(e.code, 1);
    const lines = e.stderr.split("\n");
    assert.equal(lines[0], "tsqemu: guest triple fault (shutdown) with -no-reboot; CPU state:");
    assert.match(lines[1], /^EAX=deadbeef EBX=00000000 ECX=00000000 EDX=00000000$/);
    assert.match(e.stderr, /\nIDT= {5}00000000 00000000\n/);
    assert.match(e.stderr, /\nCS =0010 00000000 ffffffff 00c09b00\n/);
  });

  it("without -no-reboot a triple fault resets (-d cpu_reset logs each reset)", async () => {
    const log = join(tempDir(), "reset.log");
    const r = tsqemu(["-kernel", triple, "-d", "cpu_reset", "-D", log, "-monitor", "stdio"]);
    await r.waitFor("(qemu) ");
    const deadline = Date.now() + 5000;
    while (!readFileSync(log, "latin1").includes("CPU Reset (CPU 0)\nEAX=deadbeef") && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 50));
    r.write("quit\n");
    const e = await r.exit();
    assert.equal(e.code, 0);
    const text = readFileSync(log, "latin1");
    assert.match(text, /^Triple fault\nCPU Reset \(CPU 0\)\nEAX=deadbeef /);
  });

  it("-no-shutdown: the guest's power-off pauses; quit then exits 0", async () => {
    const r = tsqemu(["-kernel", echo, "-nographic", "-no-shutdown"]);
    await r.waitFor("HELLO\r\n");
    r.write("q");
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(r.child.exitCode, null, "still running after power-off");
    r.write("\x01c");
    await r.waitFor("(qemu) ");
    assert.equal(await monitorCommand(r, "info status"), "VM status: paused\n");
    r.write("quit\n");
    assert.equal((await r.exit()).code, 0);
  });

  it("-S starts stopped; cont runs the guest", async () => {
    const r = tsqemu(["-kernel", echo, "-nographic", "-S"]);
    r.write("\x01c");
    await r.waitFor("(qemu) ");
    assert.equal(await monitorCommand(r, "info status"), "VM status: paused\n");
    assert.doesNotMatch(r.stdout, /HELLO/);
    r.write("cont\n");
    await r.waitFor("HELLO\r\n");
    r.write("\x01cq");
    assert.equal((await r.exit()).code, 0);
  });

  it("-S with stdin closed stays stopped (as QEMU does) until a signal ends it", async () => {
    // The monitor's prompt: the CLI is up, with its signal handlers (set in the same tick).
    const r = tsqemu(["-kernel", echo, "-monitor", "stdio", "-S"]);
    await r.waitFor("(qemu) ");
    r.child.stdin?.end();
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(r.child.exitCode, null, "still running, stopped, after stdin's end");
    r.child.kill("SIGTERM");
    const e = await r.exit();
    assert.equal(e.code, 0);
    assert.equal(e.stderr, "tsqemu: terminating on signal 15\n");
  });

  for (const [sig, num] of [
    ["SIGINT", 2],
    ["SIGTERM", 15],
    ["SIGHUP", 1],
  ] as const)
    it(`${sig} to a running guest: QEMU's "terminating on signal ${num}" and exit status 0`, async () => {
      const r = tsqemu(["-kernel", loopImg, "-monitor", "stdio"]);
      await r.waitFor("(qemu) ");
      r.child.kill(sig);
      const e = await r.exit();
      assert.equal(e.code, 0, e.stderr);
      assert.equal(e.stderr, `tsqemu: terminating on signal ${num}\n`);
    });

  it("-d in_asm,exec,cpu -D logfile: QEMU's IN: blocks, Trace lines and register dumps", async () => {
    const log = join(tempDir(), "trace.log");
    const e = await runTsqemu(["-kernel", short, "-d", "in_asm,exec,cpu", "-D", log]);
    assert.equal(e.code, 0);
    assert.equal(e.stderr, "");
    const text = readFileSync(log, "latin1");
    assert.ok(
      text.startsWith(
        "----------------\nIN: \n0x00100000:  mov    $0x12345678,%eax\n0x00100005:  mov    $0x3,%ecx\n" +
          "0x0010000a:  dec    %ecx\n0x0010000b:  jne    0x10000a\n\nTrace 0: 0x00100000 [00000000/00100000/00000010/00000000] \n" +
          "EAX=00000000 EBX=00000000",
      ),
      text.slice(0, 600),
    );
    // The first block runs the loop body once (ECX 3 → 2); the loop block is then translated once
    // and entered twice (ECX=2, then 1), and the fall-through starts the power-off block.
    assert.equal(text.split("IN: \n0x0010000a:  dec    %ecx\n").length - 1, 1);
    assert.equal(text.split("Trace 0: 0x0010000a ").length - 1, 2);
    assert.match(text, /Trace 0: 0x0010000a [^\n]*\nEAX=12345678 EBX=00000000 ECX=00000001/);
    assert.match(
      text,
      /IN: \n0x0010000d: {2}mov {4}\$0x604,%dx\n0x00100011: {2}mov {4}\$0x3400,%ax\n0x00100015: {2}out {4}%ax,\(%dx\)\n/,
    );
  });

  it("-d int,unimp: the undefined opcode is logged, then the #UD gate runs", async () => {
    const e = await runTsqemu(["-kernel", udImg, "-nographic", "-d", "int,unimp"]);
    assert.equal(e.code, 0, "the #UD handler powers off");
    assert.equal(e.stdout, "UD\r\n");
    const at = ud.udAt.toString(16).padStart(8, "0");
    assert.equal(
      e.stderr,
      `unimplemented instruction at 0010:${at}: 0f ff eb fe 66 ba 04 06\n` +
        `     0: v=06 e=0000 i=0 cpl=0 IP=0010:${at} pc=${at} SP=0018:00010000 EAX=00000a00\n`,
    );
  });

  it("-d guest_errors also reports the undefined opcode; without -d nothing is logged", async () => {
    const e = await runTsqemu(["-kernel", udImg, "-nographic", "-d", "guest_errors"]);
    assert.match(e.stderr, /^unimplemented instruction at 0010:/);
    const quiet = await runTsqemu(["-kernel", udImg, "-nographic"]);
    assert.equal(quiet.stderr, "");
    assert.equal(quiet.code, 0);
  });
});
