// The human monitor driven as a user drives it: `-monitor stdio` and Ctrl-A c under -nographic,
// one command at a time on stdin, exact output on stdout.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DATA_ADDR,
  echoKernel,
  loopKernel,
  monitorCommand,
  nmiKernel,
  type Run,
  tempDir,
  tsqemu,
  writeTemp,
} from "./fixtures.ts";

const loop = loopKernel();
const loopImg = writeTemp("mon-loop.bzImage", loop.image);
const echo = writeTemp("mon-echo.bzImage", echoKernel());
const hex8 = (v: number) => v.toString(16).padStart(8, "0");
const nmiLoop = writeTemp("mon-nmi-loop.bzImage", nmiKernel(false));
const nmiHlt = writeTemp("mon-nmi-hlt.bzImage", nmiKernel(true));
const BANNER = "QEMU 0.1.0 (tsqemu) monitor - type 'help' for more information\r\n(qemu) ";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("-monitor stdio", () => {
  let r: Run;
  const log = join(tempDir(), "mon.log");
  const cmd = (line: string) => monitorCommand(r, line);

  before(async () => {
    r = tsqemu(["-kernel", loopImg, "-monitor", "stdio", "-name", "mon-test", "-D", log]);
    await r.waitFor("(qemu) ");
    // Wait until the guest has set up its registers and entered its loop.
    for (let k = 0; k < 200 && (await cmd("p $eax")) !== "0x12345678\n"; k++) await sleep(20);
  });
  after(() => r.child.kill());

  it("greets with QEMU's banner and prompt", () => {
    assert.ok(r.stdout.startsWith(BANNER), JSON.stringify(r.stdout.slice(0, 100)));
  });

  it("info status, stop, cont, s, c", async () => {
    assert.equal(await cmd("info status"), "VM status: running\n");
    assert.equal(await cmd("stop"), "");
    assert.equal(await cmd("info status"), "VM status: paused\n");
    const edi = await cmd("p $edi");
    await sleep(50);
    assert.equal(await cmd("p $edi"), edi, "EDI does not move while stopped");
    assert.equal(await cmd("cont"), "");
    assert.equal(await cmd("info status"), "VM status: running\n");
    await sleep(50);
    assert.equal(await cmd("s"), "");
    assert.notEqual(await cmd("p $edi"), edi, "EDI moved while running");
    assert.equal(await cmd("info status"), "VM status: paused\n");
    assert.equal(await cmd("c"), "");
    assert.equal(await cmd("info status"), "VM status: running\n");
    assert.equal(await cmd("stop"), "");
  });

  it("print / p: registers, expressions, formats", async () => {
    assert.equal(await cmd("print $eax"), "0x12345678\n");
    assert.equal(await cmd("p $eax"), "0x12345678\n");
    assert.equal(await cmd("p /x $ebx"), "0xcafebabe\n");
    assert.equal(await cmd("p/x $ebx"), "0xcafebabe\n");
    assert.equal(await cmd("p /d $ecx"), "17\n");
    assert.equal(await cmd("p $eax + 1"), "0x12345679\n");
    assert.equal(await cmd("p $ebx & 0xffff"), "0xbabe\n");
    assert.equal(await cmd("p /d (2 + 3) * 4"), "20\n");
    assert.equal(await cmd("p /u -1"), "4294967295\n");
    assert.equal(await cmd("p /o 8"), "010\n");
    assert.equal(await cmd("p /c 65"), "'A'\n");
    assert.equal(await cmd("p $ax"), "0x5678\n");
    assert.equal(await cmd("p $ah"), "0x56\n");
    assert.equal(await cmd("p $cs"), "0x10\n");
    assert.equal(await cmd("p $cr0"), "0x11\n");
    assert.match(
      await cmd("p $eip"),
      new RegExp(`^0x(${loop.loop.toString(16)}|${(loop.loop + 1).toString(16)})\n$`),
    );
    assert.equal(await cmd("p $nosuch"), "unknown register: '$nosuch'\n");
    assert.equal(await cmd("p 1 +"), "unexpected end of expression\n");
    assert.equal(await cmd("p 1 / 0"), "division by zero\n");
  });

  it("x and xp: counts, formats x/d/u/o/c, sizes b/h/w/g", async () => {
    const a = DATA_ADDR.toString(16);
    assert.equal(await cmd(`x /4xb 0x${a}`), "00200000: 0xef 0xbe 0xad 0xde\n");
    assert.equal(await cmd(`x /2xh 0x${a}`), "00200000: 0xbeef 0xdead\n");
    assert.equal(await cmd(`x /2xw 0x${a}`), "00200000: 0xdeadbeef 0x65717374\n");
    assert.equal(await cmd(`x/2x 0x${a}`), "00200000: 0xdeadbeef 0x65717374\n");
    assert.equal(await cmd(`x /1xg 0x${a}`), "00200000: 0x65717374deadbeef\n");
    assert.equal(await cmd(`x /1dw 0x${a}`), "00200000: -559038737\n");
    assert.equal(await cmd(`x /1uw 0x${a}`), "00200000: 3735928559\n");
    assert.equal(await cmd(`x /1ow 0x${a}`), "00200000: 033653337357\n");
    assert.equal(await cmd(`x /6c 0x${a} + 4`), "00200004: 't' 's' 'q' 'e' 'm' 'u'\n");
    assert.equal(
      await cmd(`x /5xw 0x${a}`),
      "00200000: 0xdeadbeef 0x65717374 0x0000756d 0x00000000\n00200010: 0x00000000\n",
    );
    assert.equal(await cmd(`xp /2xw 0x${a}`), "0000000000200000: 0xdeadbeef 0x65717374\n");
    assert.equal(await cmd("x"), "memory dump: missing address\n");
  });

  it("memsave and pmemsave write guest memory to a host file; errors as QEMU prints them", async () => {
    const dir = tempDir();
    const a = DATA_ADDR.toString(16);
    const want = [0xef, 0xbe, 0xad, 0xde, 0x74, 0x73, 0x71, 0x65, 0x6d, 0x75];
    assert.equal(await cmd(`pmemsave 0x${a} 10 ${join(dir, "p.bin")}`), "");
    assert.deepEqual([...readFileSync(join(dir, "p.bin"))], want);
    // Paging is off in this guest: virtual = physical. A quoted name loses its quotes.
    assert.equal(await cmd(`memsave 0x${a}+2 8 "${join(dir, "v.bin")}"`), "");
    assert.deepEqual([...readFileSync(join(dir, "v.bin"))], want.slice(2));
    const bad = join(dir, "nodir", "x");
    assert.equal(
      await cmd(`pmemsave 0x${a} 4 ${bad}`),
      `Error: Could not open '${bad}': No such file or directory\n`,
    );
    assert.equal(await cmd(`memsave 0x${a} 4`), "memsave: usage: addr size file\n");
  });

  it("x /i and xp /i disassemble", async () => {
    const l = loop.loop;
    const want = `0x${hex8(l)}:  inc    %edi\n0x${hex8(l + 1)}:  jmp    0x${l.toString(16)}\n`;
    assert.equal(await cmd(`x /2i 0x${l.toString(16)}`), want);
    assert.equal(
      await cmd(`xp /1i 0x${l.toString(16)}`),
      `0x${l.toString(16).padStart(16, "0")}:  inc    %edi\n`,
    );
  });

  it("info registers, cpus", async () => {
    const regs = await cmd("info registers");
    assert.match(
      regs,
      /^EAX=12345678 EBX=cafebabe ECX=00000011 EDX=00000000\nESI=[0-9a-f]{8} EDI=[0-9a-f]{8} /,
    );
    assert.match(regs, /\nCS =0010 00000000 ffffffff 00c09b00\n/);
    assert.match(regs, /\nCR0=00000011 CR2=00000000 CR3=00000000 CR4=00000000\n/);
    assert.match(await cmd("info cpus"), /^\* CPU #0: pc=0x001000[0-9a-f]{2} thread_id=\d+\n$/);
  });

  it("info version, name, kqemu, kvm", async () => {
    assert.equal(await cmd("info version"), "0.1.0 (tsqemu)\n");
    assert.equal(await cmd("info name"), "mon-test\n");
    assert.match(
      await cmd("info kqemu"),
      /^kqemu support: enabled for user code\ncompiled code: \d+ guest instructions/,
    );
    assert.equal(await cmd("info kvm"), "kvm support: disabled\n");
  });

  it("info mtree, irq, pic, lapic, roms", async () => {
    const mtree = await cmd("info mtree");
    assert.ok(mtree.startsWith("address-space: memory\n"), mtree);
    assert.ok(mtree.includes("    00000000000c0000-0000000007ffffff (prio 0, ram): pc.ram\n"), mtree);
    assert.ok(mtree.includes("    00000000000003f8-00000000000003ff (prio 0, i/o): serial\n"), mtree);
    assert.match(await cmd("info irq"), /^IRQ statistics:\n/);
    assert.match(
      await cmd("info pic"),
      /^pic0: irr=[0-9a-f]{2} imr=[0-9a-f]{2} [^\n]*\npic1: [^\n]*elcr=0c[^\n]*\nioapic0: ver=0x11 id=0x01 [^\n]*\n( {2}pin [ \d]\d 0x[0-9a-f]{16} [^\n]*\n){24}$/,
    );
    assert.match(
      await cmd("info lapic"),
      /^dumping local APIC state for CPU 0\nAPIC_BASE 0xfee00900 \(enabled\) [^\n]*\n(?:[^\n]*\n)*SPIV\t 0x000001ff APIC enabled/,
    );
    const size = readFileSync(loopImg).length.toString(16).padStart(6, "0");
    assert.equal(await cmd("info roms"), `addr=0000000000100000 size=0x${size} mem=ram name="${loopImg}"\n`);
  });

  it("info, info history, info foo", async () => {
    const list = await cmd("info");
    for (const sub of [
      "version",
      "status",
      "name",
      "registers",
      "cpus",
      "kqemu",
      "kvm",
      "mtree",
      "irq",
      "pic",
      "lapic",
      "roms",
      "history",
    ])
      assert.match(list, new RegExp(`^info ${sub}  -- `, "m"), sub);
    const hist = (await cmd("info history")).trimEnd().split("\n");
    assert.match(hist[0], /^0: 'p \$eax'$/);
    assert.equal(hist.at(-1), `${hist.length - 1}: 'info history'`);
    assert.equal(await cmd("info foo"), "unknown info subcommand: 'foo'\n");
  });

  it("help and ?, help CMD, unknown commands", async () => {
    const help = await cmd("help");
    for (const c of [
      "help|?",
      "info",
      "stop|s",
      "cont|c",
      "system_reset",
      "system_powerdown",
      "quit|q",
      "x",
      "xp",
      "nmi",
      "memsave",
      "pmemsave",
      "print|p",
      "log",
    ])
      assert.match(help, new RegExp(`^${c.replace(/[|?]/g, "\\$&")} `, "m"), c);
    assert.equal(await cmd("?"), help);
    assert.equal(
      await cmd("help info"),
      "info [subcommand] -- show various information about the system state\n",
    );
    assert.equal(await cmd("foo"), "unknown command: 'foo'\n");
    assert.equal(await cmd("foo bar baz"), "unknown command: 'foo'\n");
    assert.equal(await cmd(""), "");
  });

  it("log: items at run time go to the -D file; log none stops them", async () => {
    assert.equal(await cmd("log foo"), "Invalid parameter 'log': unknown item 'foo'\n");
    assert.match(await cmd("log"), /^Log items \(comma separated\):\nin_asm {7}show target assembly/);
    assert.equal(await cmd("log in_asm,exec"), "");
    assert.equal(await cmd("cont"), "");
    const l = loop.loop;
    const want = `IN: \n0x${hex8(l)}:  inc    %edi\n0x${hex8(l + 1)}:  jmp    0x${l.toString(16)}\n`;
    for (let k = 0; k < 200 && !readFileSync(log, "latin1").includes(want); k++) await sleep(20);
    assert.equal(await cmd("log none"), "");
    assert.equal(await cmd("stop"), "");
    const text = readFileSync(log, "latin1");
    assert.ok(text.includes(want), text.slice(0, 400));
    assert.match(text, new RegExp(`Trace 0: 0x${hex8(l)} \\[00000000/${hex8(l)}/`));
    await sleep(50);
    assert.equal(readFileSync(log, "latin1").length, text.length, "nothing logged after log none");
  });

  it("quit exits 0", async () => {
    r.write("quit\n");
    const e = await r.exit();
    assert.equal(e.code, 0);
    assert.equal(e.stderr, "");
  });
});

describe("monitor under -nographic (Ctrl-A c)", () => {
  it("system_reset reboots the guest, system_powerdown presses the ACPI power button", async () => {
    const r = tsqemu(["-kernel", echo, "-nographic"]);
    await r.waitFor("HELLO\r\n");
    r.write("\x01c");
    await r.waitFor(`\r\n${BANNER}`);
    assert.equal(await monitorCommand(r, "info status"), "VM status: running\n");
    assert.equal(await monitorCommand(r, "x /2c 0x100000 + 0"), "00100000: '\\x89' '\\xf3'\n");
    const from = r.stdout.length;
    assert.equal(await monitorCommand(r, "system_reset"), "");
    await r.waitFor("HELLO\r\n", { from });
    r.write("system_powerdown\n");
    const e = await r.exit();
    assert.equal(e.code, 0, "the guest saw PWRBTN_STS and powered off");
    assert.equal(e.stdout.split("HELLO\r\n").length - 1, 2);
  });

  it("q quits from the muxed monitor; Ctrl-A c again shows the prompt", async () => {
    const r = tsqemu(["-kernel", echo, "-nographic"]);
    await r.waitFor("HELLO\r\n");
    r.write("\x01c");
    await r.waitFor(BANNER);
    r.write("\x01c");
    r.write("\x01c");
    await r.waitFor(`${BANNER}\r\n(qemu) `);
    r.write("q\n");
    const e = await r.exit();
    assert.equal(e.code, 0);
  });
});

describe("nmi", { concurrency: 2 }, () => {
  for (const accel of ["-no-kqemu", "-kernel-kqemu"])
    for (const [what, img] of [
      ["looping", nmiLoop],
      ["halted with interrupts off", nmiHlt],
    ] as const)
      it(`${accel}, a ${what} CPU: the guest's NMI gate runs (it powers off)`, async () => {
        const r = tsqemu(["-kernel", img, accel, "-monitor", "stdio"]);
        await r.waitFor("(qemu) ");
        await sleep(300);
        assert.equal(r.child.exitCode, null, "running until the NMI");
        r.write("nmi\n");
        assert.equal((await r.exit()).code, 0);
      });
});
