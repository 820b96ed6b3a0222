// Tiny synthetic guest kernels for the CLI tests: bzImages (Linux boot protocol 2.06 header) whose
// 32-bit payload is hand-assembled below. loadLinux copies the payload to 0x100000 and enters it in
// protected mode with flat 4 GiB segments (CS=0x10, DS=ES=SS=0x18) and ESP on a small stack.
// Also: a child-process driver that spawns `node bin/tsqemu.mjs` the way a user would.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ENTRY = 0x100000;
/** Physical address the loop kernel fills with a known dword (see loopKernel). */
export const DATA_ADDR = 0x200000;

const COM1 = 0x3f8;
const COM1_LSR = 0x3fd;
const PM1A_STS = 0x600;
const PM1A_CNT = 0x604;
const SLP_S5 = (5 << 10) | (1 << 13); // SLP_TYP=5 | SLP_EN

type Fixup = { at: number; label: string; kind: "rel8" | "rel32" | "abs32" | "lo16" | "hi16" };

/** Just enough of a 32-bit assembler: bytes, labels and the four fixups the kernels need. */
class Asm {
  readonly b: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: Fixup[] = [];

  get here(): number {
    return ENTRY + this.b.length;
  }
  db(...v: number[]): this {
    for (const x of v) this.b.push(x & 0xff);
    return this;
  }
  d16(v: number): this {
    return this.db(v, v >>> 8);
  }
  d32(v: number): this {
    return this.db(v, v >>> 8, v >>> 16, v >>> 24);
  }
  label(name: string): this {
    this.labels.set(name, this.here);
    return this;
  }
  ref(label: string, kind: Fixup["kind"]): this {
    this.fixups.push({ at: this.b.length, label, kind });
    const size = kind === "rel8" ? 1 : kind === "lo16" || kind === "hi16" ? 2 : 4;
    for (let k = 0; k < size; k++) this.b.push(0);
    return this;
  }
  ascii(s: string): this {
    for (const ch of s) this.b.push(ch.charCodeAt(0));
    return this;
  }

  // Instructions (32-bit code segment).
  movEaxImm(v: number): this {
    return this.db(0xb8).d32(v);
  }
  movRegImm(reg: number, v: number): this {
    return this.db(0xb8 + reg).d32(v);
  }
  movEsiLabel(label: string): this {
    return this.db(0xbe).ref(label, "abs32");
  }
  movDx(v: number): this {
    return this.db(0x66, 0xba).d16(v);
  }
  movAx(v: number): this {
    return this.db(0x66, 0xb8).d16(v);
  }
  jmp(label: string): this {
    return this.db(0xeb).ref(label, "rel8");
  }
  jz(label: string): this {
    return this.db(0x74).ref(label, "rel8");
  }
  jnz(label: string): this {
    return this.db(0x75).ref(label, "rel8");
  }
  call(label: string): this {
    return this.db(0xe8).ref(label, "rel32");
  }
  /** outw (%dx): 0x3400 to PM1a_CNT, then hlt in a loop (reached only with -no-shutdown + cont). */
  powerOff(): this {
    this.label("poweroff").movDx(PM1A_CNT).movAx(SLP_S5).db(0x66, 0xef);
    return this.label("dead").db(0xf4).jmp("dead");
  }
  /** putc: AL to COM1 once LSR.THRE (bit 5) is set. Clobbers AH, DX. */
  putcRoutine(): this {
    this.label("putc").db(0x88, 0xc4); // mov %al,%ah
    this.movDx(COM1_LSR).label("putc_wait").db(0xec, 0xa8, 0x20).jz("putc_wait"); // in; test $0x20,%al
    return this.movDx(COM1).db(0x88, 0xe0, 0xee, 0xc3); // mov %ah,%al; out %al,(%dx); ret
  }
  /** puts: the NUL-terminated string at ESI. */
  putsRoutine(): this {
    this.label("puts").db(0x8a, 0x06, 0x84, 0xc0).jz("puts_end"); // mov (%esi),%al; test %al,%al
    this.call("putc").db(0x46).jmp("puts"); // inc %esi
    return this.label("puts_end").db(0xc3);
  }

  link(): Uint8Array {
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined) throw new Error(`fixture asm: undefined label ${f.label}`);
      const put = (v: number, n: number) => {
        for (let k = 0; k < n; k++) this.b[f.at + k] = (v >>> (8 * k)) & 0xff;
      };
      if (f.kind === "rel8") {
        const rel = target - (ENTRY + f.at + 1);
        if (rel < -128 || rel > 127) throw new Error(`fixture asm: ${f.label} out of rel8 range`);
        put(rel, 1);
      } else if (f.kind === "rel32") put(target - (ENTRY + f.at + 4), 4);
      else if (f.kind === "abs32") put(target, 4);
      else if (f.kind === "lo16") put(target & 0xffff, 2);
      else put(target >>> 16, 2);
    }
    return Uint8Array.from(this.b);
  }
}

/** Wraps a 32-bit payload in a bzImage (boot protocol 2.06, loaded high, not relocatable). */
export function makeBzImage(payload: Uint8Array): Uint8Array {
  const setupSects = 4;
  const setupSize = (setupSects + 1) * 512;
  const img = new Uint8Array(setupSize + payload.length);
  const dv = new DataView(img.buffer);
  img[0x1f1] = setupSects;
  dv.setUint32(0x1f4, Math.ceil(payload.length / 16), true); // syssize
  dv.setUint16(0x1fa, 0xffff, true); // vid_mode
  dv.setUint16(0x1fe, 0xaa55, true); // boot_flag
  img[0x200] = 0xeb; // jmp short over the header
  img[0x201] = 0x236 - 0x202;
  img.set([0x48, 0x64, 0x72, 0x53], 0x202); // "HdrS"
  dv.setUint16(0x206, 0x0206, true); // protocol 2.06
  img[0x211] = 0x01; // LOADED_HIGH
  dv.setUint32(0x214, ENTRY, true); // code32_start
  dv.setUint32(0x22c, 0x37ffffff, true); // initrd_addr_max
  dv.setUint32(0x238, 255, true); // cmdline_size
  img.set(payload, setupSize);
  return img;
}

/**
 * (a) Echo: prints "HELLO\r\n", the kernel command line and "\r\n" on COM1, then the initrd's
 * contents up to its first NUL (when there is an initrd), then echoes every byte received on COM1
 * until it receives 'q' (or the ACPI power button is pressed: PM1a_STS.PWRBTN_STS), then powers
 * off through PM1a_CNT.
 */
export function echoKernel(): Uint8Array {
  const a = new Asm();
  a.db(0x89, 0xf3); // mov %esi,%ebx: boot_params
  a.movEsiLabel("hello").call("puts");
  a.db(0x8b, 0xb3).d32(0x228).call("puts"); // mov 0x228(%ebx),%esi: cmd_line_ptr
  a.movEsiLabel("crlf").call("puts");
  a.db(0x8b, 0xb3).d32(0x218); // mov 0x218(%ebx),%esi: ramdisk_image
  a.db(0x8b, 0x8b).d32(0x21c).db(0x85, 0xc9).jz("echo"); // mov 0x21c(%ebx),%ecx: ramdisk_size; test
  a.call("puts");
  a.label("echo");
  a.movDx(PM1A_STS).db(0x66, 0xed, 0xf6, 0xc4, 0x01).jnz("poweroff"); // in (%dx),%ax; test $1,%ah
  a.movDx(COM1_LSR).db(0xec, 0xa8, 0x01).jz("echo"); // in; test $1,%al (data ready)
  a.movDx(COM1).db(0xec, 0x3c, 0x71).jz("poweroff"); // in; cmp $'q',%al
  a.call("putc").jmp("echo");
  a.powerOff().putcRoutine().putsRoutine();
  a.label("hello").ascii("HELLO\r\n").db(0);
  a.label("crlf").ascii("\r\n").db(0);
  return makeBzImage(a.link());
}

/**
 * (b) Loop: prints "READY\r\n", puts known values in registers (EAX=0x12345678, EBX=0xCAFEBABE,
 * ECX=0x11, EDX=0, EDI counts loop turns) and memory (the dword 0xDEADBEEF and the bytes "tsqemu" at
 * DATA_ADDR), then loops forever at the label the result's `loop` gives: `inc %edi; jmp loop`.
 */
export function loopKernel(): { image: Uint8Array; loop: number } {
  const a = new Asm();
  a.movEsiLabel("ready").call("puts");
  a.db(0xc7, 0x05).d32(DATA_ADDR).d32(0xdeadbeef); // movl $0xdeadbeef,DATA_ADDR
  a.db(0xc7, 0x05)
    .d32(DATA_ADDR + 4)
    .ascii("tsqe"); // movl $"tsqe",DATA_ADDR+4
  a.db(0x66, 0xc7, 0x05)
    .d32(DATA_ADDR + 8)
    .ascii("mu"); // movw $"mu",DATA_ADDR+8
  a.movEaxImm(0x12345678).movRegImm(3, 0xcafebabe).movRegImm(1, 0x11).movRegImm(2, 0).movRegImm(7, 0);
  const loop = a.here;
  a.label("loop").db(0x47).jmp("loop"); // inc %edi; jmp loop
  a.powerOff().putcRoutine().putsRoutine();
  a.label("ready").ascii("READY\r\n").db(0);
  return { image: makeBzImage(a.link()), loop };
}

/** (c) Triple fault: EAX=0xDEADBEEF, lidt of a zero-limit IDT, int3 → #GP → #DF → shutdown. */
export function tripleFaultKernel(): Uint8Array {
  const a = new Asm();
  a.movEaxImm(0xdeadbeef);
  a.db(0x0f, 0x01, 0x1d).ref("idtr", "abs32"); // lidt idtr
  a.db(0xcc); // int3
  a.label("spin").jmp("spin");
  a.label("idtr").d16(0).d32(0);
  return makeBzImage(a.link());
}

/** `idtr` and an 8-gate IDT (vectors 0-7: #DE…#NM, NMI among them) whose gates jump to `poweroff`. */
function powerOffIdt(a: Asm): void {
  a.label("idtr")
    .d16(8 * 8 - 1)
    .ref("idt", "abs32");
  a.label("idt");
  for (let v = 0; v < 8; v++) a.ref("poweroff", "lo16").d16(0x10).d16(0x8e00).ref("poweroff", "hi16");
}

/**
 * (d) Undefined opcode: installs an IDT whose #UD gate powers the machine off, prints "UD\r\n", then
 * executes 0F FF (UD0) at the address the result's `udAt` gives.
 */
export function undefinedOpcodeKernel(): { image: Uint8Array; udAt: number } {
  const a = new Asm();
  a.db(0x0f, 0x01, 0x1d).ref("idtr", "abs32"); // lidt idtr
  a.movEsiLabel("msg").call("puts");
  const udAt = a.here;
  a.db(0x0f, 0xff); // ud0
  a.label("spin").jmp("spin");
  a.powerOff().putcRoutine().putsRoutine();
  a.label("msg").ascii("UD\r\n").db(0);
  powerOffIdt(a);
  return { image: makeBzImage(a.link()), udAt };
}

/**
 * (f) NMI: installs an IDT whose first eight gates (NMI is vector 2) power the machine off, prints
 * "READY\r\n", then loops (`spin` with interrupts enabled if `hlt`, else a jmp-to-self loop).
 */
export function nmiKernel(hlt: boolean): Uint8Array {
  const a = new Asm();
  a.db(0x0f, 0x01, 0x1d).ref("idtr", "abs32"); // lidt idtr
  a.movEsiLabel("msg").call("puts");
  if (hlt)
    a.label("spin").db(0xf4).jmp("spin"); // hlt (IF clear: only an NMI ends it)
  else a.label("spin").jmp("spin");
  a.powerOff().putcRoutine().putsRoutine();
  a.label("msg").ascii("READY\r\n").db(0);
  powerOffIdt(a);
  return makeBzImage(a.link());
}

/** (e) Short: EAX=0x12345678, ECX=3, three turns of `dec %ecx; jnz`, then ACPI power-off. */
export function shortKernel(): Uint8Array {
  const a = new Asm();
  a.movEaxImm(0x12345678).movRegImm(1, 3);
  a.label("again").db(0x49).jnz("again"); // dec %ecx
  a.powerOff();
  return makeBzImage(a.link());
}

// ------------------------------------------------------------------------------------------------
// Files and processes

let dir: string | null = null;
/** A fresh temporary directory for this test process. */
export function tempDir(): string {
  dir ??= mkdtempSync(join(tmpdir(), "tsqemu-cli-"));
  return dir;
}

/** Writes `data` into the temp dir and returns its path. */
export function writeTemp(name: string, data: Uint8Array | string): string {
  const p = join(tempDir(), name);
  writeFileSync(p, data);
  return p;
}

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BIN = join(ROOT, "bin", "tsqemu.mjs");

export interface Run {
  child: ChildProcess;
  /** Everything written to stdout so far (latin1). */
  readonly stdout: string;
  readonly stderr: string;
  /**
   * Resolves once stdout (or stderr) from offset `from` on contains `text` (or matches it); rejects
   * after `ms`, or when the process exits first, with what was seen.
   */
  waitFor(
    text: string | RegExp,
    opts?: { ms?: number; stream?: "stdout" | "stderr"; from?: number },
  ): Promise<void>;
  write(s: string | Uint8Array): void;
  /** Resolves with the exit status (killing the child after `ms`). */
  exit(ms?: number): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Spawns tsqemu with `args`, stdin/stdout/stderr as pipes (no terminal). */
export function tsqemu(args: string[], opts: { cwd?: string } = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, stdio: "pipe" });
  let out = "";
  let err = "";
  const waiters: (() => void)[] = [];
  const poke = () => {
    for (const w of waiters.slice()) w();
  };
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString("latin1");
    poke();
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString("latin1");
    poke();
  });
  child.stdin.on("error", () => {});
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  let done = false;
  exited.then(() => {
    done = true;
    poke();
  });
  return {
    child,
    get stdout() {
      return out;
    },
    get stderr() {
      return err;
    },
    waitFor(text, { ms = 10000, stream = "stdout", from = 0 } = {}) {
      const has = () => {
        const s = (stream === "stdout" ? out : err).slice(from);
        return typeof text === "string" ? s.includes(text) : text.test(s);
      };
      return new Promise<void>((resolve, reject) => {
        if (has()) return resolve();
        const t = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `timed out waiting for ${String(text)} on ${stream}\nstdout: ${JSON.stringify(out)}\nstderr: ${JSON.stringify(err)}`,
            ),
          );
        }, ms);
        const w = () => {
          if (has()) {
            cleanup();
            resolve();
          } else if (done) {
            cleanup();
            reject(
              new Error(
                `tsqemu exited before ${String(text)} on ${stream}\nstdout: ${JSON.stringify(out)}\nstderr: ${JSON.stringify(err)}`,
              ),
            );
          }
        };
        const cleanup = () => {
          clearTimeout(t);
          const k = waiters.indexOf(w);
          if (k >= 0) waiters.splice(k, 1);
        };
        waiters.push(w);
      });
    },
    write(s) {
      child.stdin.write(s);
    },
    async exit(ms = 10000) {
      const t = setTimeout(() => child.kill("SIGKILL"), ms);
      const code = await exited;
      clearTimeout(t);
      return { code, stdout: out, stderr: err };
    },
  };
}

/** Runs tsqemu to completion with `input` on stdin (then EOF kept open until exit). */
export async function runTsqemu(
  args: string[],
  input = "",
  ms = 10000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = tsqemu(args);
  if (input) r.write(input);
  return r.exit(ms);
}

/**
 * Sends one monitor command on stdin and returns what the monitor printed before its next prompt,
 * without the echoed command line, with "\r\n" turned into "\n".
 */
export async function monitorCommand(r: Run, line: string, ms = 10000): Promise<string> {
  const from = r.stdout.length;
  r.write(`${line}\n`);
  await r.waitFor(/\(qemu\) $/, { ms, from: from + 1 });
  let text = r.stdout.slice(from).replace(/\r\n/g, "\n");
  text = text.slice(0, text.lastIndexOf("(qemu) "));
  if (text.startsWith(`${line}\n`)) text = text.slice(line.length + 1);
  return text;
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      const port = typeof a === "object" && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Connects to a TCP port or unix socket path, retrying while the server is not up yet. */
export async function connectRetry(target: number | string, ms = 5000): Promise<import("node:net").Socket> {
  const { connect } = await import("node:net");
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await new Promise((resolve, reject) => {
        const s = typeof target === "number" ? connect(target, "127.0.0.1") : connect(target);
        s.once("connect", () => resolve(s));
        s.once("error", reject);
      });
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Collects a socket's data; `waitFor` resolves once the text so far contains `text`. */
export function socketReader(s: import("node:net").Socket): {
  readonly text: string;
  waitFor(text: string | RegExp, ms?: number): Promise<void>;
} {
  let text = "";
  const waiters: (() => void)[] = [];
  s.on("data", (d: Buffer) => {
    text += d.toString("latin1");
    for (const w of waiters.slice()) w();
  });
  return {
    get text() {
      return text;
    },
    waitFor(want, ms = 5000) {
      const has = () => (typeof want === "string" ? text.includes(want) : want.test(text));
      return new Promise((resolve, reject) => {
        if (has()) return resolve();
        const t = setTimeout(
          () =>
            reject(new Error(`socket: timed out waiting for ${String(want)}; got ${JSON.stringify(text)}`)),
          ms,
        );
        waiters.push(() => {
          if (has()) {
            clearTimeout(t);
            resolve();
          }
        });
      });
    },
  };
}
