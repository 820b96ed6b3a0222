// Builds a tiny static i386 ELF executable that runs many test cases natively on the host CPU and
// writes one state record per case to stdout; then runs it and parses the records.
//
// Memory map (the same addresses are used in the interpreter, so the snippet runs at the same EIP
// and touches the same linear addresses):
//   CODE_BASE  0x00100000  ELF headers, the driver, the case snippets, the case table   (R-X)
//   BSS_BASE   0x00380000  driver variables, output record, the driver's stack (to 0x384000)
//                          and the signal stack (to 0x38c000)                          (RW-)
//   WINDOW     0x00390000  the test page (RW-), alone between unmapped pages; compared are
//                          its first 512 bytes (scratch + test stack) and its last 32 (tail)
//
// Per case the driver fills the test page from a xorshift32 seed plus up to four dword patches,
// loads FS with an LDT data segment based at WINDOW (for 16-bit-addressing cases), loads EFLAGS
// (POPFD) and the eight GPRs, and jumps to the snippet, which ends with a JMP back to the
// driver's save routine. Faults are caught by one handler (rt_sigaction with SA_ONSTACK |
// SA_NODEFER, on a sigaltstack, so any ESP value is fine) that copies the registers, the trap
// number (the exception vector), error code and EIP from the signal context and moves on: one
// process runs thousands of cases, faulting or not.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Asm, abs32, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP, enc, le, m32 } from "./asm.ts";

export const CODE_BASE = 0x00100000;
export const BSS_BASE = 0x00380000;
export const WINDOW = 0x00390000;
/** Bytes at the start of the test page the generator uses (scratch, then the test stack). */
export const WINDOW_SIZE = 0x200;
/** The last bytes of the test page, compared too (accesses running off the page's end). */
export const TAIL = 0xfe0;
export const TAIL_SIZE = 0x20;
/** Compared memory: WINDOW_SIZE bytes at the start of the page, then TAIL_SIZE bytes at TAIL. */
export const MEM_BYTES = WINDOW_SIZE + TAIL_SIZE;
/** LDT selector 0, TI = 1, RPL = 3: a 64 KiB data segment based at WINDOW (16-bit addressing tests). */
export const FS_SEL = 0x07;
export const FS_LIMIT = 0xffff;

export const BSS_SIZE = 0xc000;
const V_CUR = BSS_BASE + 0x00;
const V_JMPT = BSS_BASE + 0x04;
const V_SIGACT = BSS_BASE + 0x40;
const V_SIGSTK = BSS_BASE + 0x60;
const V_LDT = BSS_BASE + 0x70;
const OUT = BSS_BASE + 0x100;
const OUT_HDR = 64;
export const OUT_REC = OUT_HDR + MEM_BYTES;
const DSTACK_TOP = BSS_BASE + 0x4000;
const ALTSTACK = BSS_BASE + 0x4000;
const ALTSTACK_SIZE = 0x8000;
const REC = 80;

/** Host-run input: initial state and the snippet (without the trailing jump back). */
export interface HostCase {
  regs: ArrayLike<number>;
  /** Initial EFLAGS: only CF PF AF ZF SF OF DF are meaningful (POPFD at CPL 3). */
  eflags: number;
  code: ArrayLike<number>;
  memSeed: number;
  /** Up to four (offset within the test page, dword) pairs written after the seeded fill. */
  patches: ReadonlyArray<readonly [number, number]>;
}

export interface StateOut {
  regs: Int32Array;
  eflags: number;
  /** Host: the signal number (0 = completed). Interpreter: 0 or 1 (faulted). */
  sig: number;
  /** Exception vector, -1 if the snippet completed. */
  vector: number;
  err: number;
  /** EIP at the exception (0 when completed). */
  eip: number;
  /** CR2 for #PF (the faulting linear address). */
  cr2: number;
  mem: Uint8Array;
}

/** The test page's initial contents for a case (the driver's xorshift32 fill, then the patches). */
export function initialWindow(c: HostCase): Uint8Array {
  const w = new Uint8Array(0x1000);
  const dv = new DataView(w.buffer);
  let x = c.memSeed >>> 0;
  for (let k = 0; k < 0x1000; k += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    dv.setUint32(k, x, true);
  }
  // exactly as the driver does: unused patch slots write 0 at WINDOW_SIZE (just past the window)
  for (let p = 0; p < 4; p++) {
    const [off, v] = c.patches[p] ?? [WINDOW_SIZE, 0];
    dv.setUint32(off, v >>> 0, true);
  }
  return w;
}

/** The compared bytes of a test page. */
export function comparedBytes(page: Uint8Array): Uint8Array {
  const m = new Uint8Array(MEM_BYTES);
  m.set(page.subarray(0, WINDOW_SIZE), 0);
  m.set(page.subarray(TAIL, TAIL + TAIL_SIZE), WINDOW_SIZE);
  return m;
}

/** Test-page offset of compared byte k. */
export function memOffset(k: number): number {
  return k < WINDOW_SIZE ? k : TAIL + (k - WINDOW_SIZE);
}

export interface BuiltElf {
  image: Uint8Array;
  /** End of the loaded image (its first unmapped address, rounded up to a page). */
  codeEnd: number;
  /** Linear address of each case's snippet. */
  codeAddr: number[];
}

const SIGNALS = [4, 5, 7, 8, 11]; // SIGILL SIGTRAP SIGBUS SIGFPE SIGSEGV
const SA_ONSTACK = 0x08000000;
const SA_NODEFER = 0x40000000;
const SA_RESTORER = 0x04000000;
const SS_AUTODISARM = 0x80000000;

/** mov r32, imm32 */
function movRI(a: Asm, reg: number, v: number): void {
  a.emit(0xb8 + reg, ...le(v, 4));
}
/** mov dword [abs], imm32 */
function movMI(a: Asm, addr: number, v: number): void {
  a.emit(...enc({ op: [0xc7], reg: 0, rm: abs32(addr), imm: v, immSize: 4 }));
}
function movMR(a: Asm, addr: number, reg: number): void {
  a.emit(...enc({ op: [0x89], reg, rm: abs32(addr) }));
}
function movRM(a: Asm, reg: number, base: number, disp: number): void {
  a.emit(...enc({ op: [0x8b], reg, rm: m32(base, -1, 0, disp, true) }));
}
function int80(a: Asm): void {
  a.emit(0xcd, 0x80);
}
/** test eax,eax; jnz fail<code> */
function checkOk(a: Asm, failLabel: string): void {
  a.emit(0x85, 0xc0);
  a.jcc(5, failLabel);
}

export function buildElf(cases: readonly HostCase[]): BuiltElf {
  const hdrSize = 52 + 3 * 32;
  const a = new Asm(CODE_BASE + hdrSize);
  // ---- setup
  a.label("_start");
  // Touch every BSS page now: a demand-zero fault taken by the kernel in the middle of a test
  // instruction restarts it after a partial write (ENTER with an overlapping frame shows it).
  for (let p = BSS_BASE; p < BSS_BASE + BSS_SIZE; p += 0x1000) movMI(a, p + 0xffc, 0);
  movMI(a, V_SIGSTK, ALTSTACK);
  movMI(a, V_SIGSTK + 4, SS_AUTODISARM);
  movMI(a, V_SIGSTK + 8, ALTSTACK_SIZE);
  a.call("sigaltstack");
  a.emit(...enc({ op: [0xc7], reg: 0, rm: abs32(V_SIGACT) }));
  a.abs("handler");
  movMI(a, V_SIGACT + 4, SA_ONSTACK | SA_NODEFER | SA_RESTORER);
  a.emit(...enc({ op: [0xc7], reg: 0, rm: abs32(V_SIGACT + 8) }));
  a.abs("restorer");
  movMI(a, V_SIGACT + 12, 0);
  movMI(a, V_SIGACT + 16, 0);
  for (const sig of SIGNALS) {
    movRI(a, EAX, 174); // rt_sigaction(sig, &act, NULL, 8)
    movRI(a, EBX, sig);
    movRI(a, ECX, V_SIGACT);
    movRI(a, EDX, 0);
    movRI(a, ESI, 8);
    int80(a);
    checkOk(a, "fail2");
  }
  // modify_ldt(1, &user_desc, 16): entry 0, base WINDOW, limit 0xffff bytes, 32-bit, data RW, usable.
  movMI(a, V_LDT, 0);
  movMI(a, V_LDT + 4, WINDOW);
  movMI(a, V_LDT + 8, FS_LIMIT);
  movMI(a, V_LDT + 12, 0x41);
  movRI(a, EAX, 123);
  movRI(a, EBX, 1);
  movRI(a, ECX, V_LDT);
  movRI(a, EDX, 16);
  int80(a);
  checkOk(a, "fail3");
  a.emit(0xc7, 0x05, ...le(V_CUR, 4));
  a.abs("records");

  // ---- per case
  a.label("next");
  movRI(a, ESP, DSTACK_TOP);
  a.emit(0xfc); // cld
  a.emit(0x8b, 0x1d, ...le(V_CUR, 4)); // mov ebx,[CUR]
  a.emit(0x81, 0xfb); // cmp ebx, records_end
  a.abs("records_end");
  a.jcc(3, "done"); // jae
  movRM(a, EAX, EBX, 40);
  movRI(a, EDI, WINDOW);
  movRI(a, ECX, 0x1000 / 4);
  a.label("fill");
  // xorshift32: x ^= x << 13; x ^= x >> 17; x ^= x << 5
  a.emit(0x89, 0xc2, 0xc1, 0xe2, 13, 0x31, 0xd0); // mov edx,eax; shl edx,13; xor eax,edx
  a.emit(0x89, 0xc2, 0xc1, 0xea, 17, 0x31, 0xd0); // mov edx,eax; shr edx,17; xor eax,edx
  a.emit(0x89, 0xc2, 0xc1, 0xe2, 5, 0x31, 0xd0); // mov edx,eax; shl edx,5;  xor eax,edx
  a.emit(0xab, 0x49); // stosd; dec ecx
  a.jcc(5, "fill");
  for (let k = 0; k < 4; k++) {
    movRM(a, EDI, EBX, 48 + 8 * k);
    movRM(a, EAX, EBX, 52 + 8 * k);
    a.emit(...enc({ op: [0x89], reg: EAX, rm: m32(EDI, -1, 0, WINDOW) }));
  }
  movRI(a, EAX, FS_SEL);
  a.emit(0x8e, 0xe0); // mov fs, ax
  movRM(a, EAX, EBX, 36);
  movMR(a, V_JMPT, EAX);
  a.emit(...enc({ op: [0xff], reg: 6, rm: m32(EBX, -1, 0, 32) })); // push dword [ebx+32]
  a.emit(0x9d); // popfd
  for (const reg of [EAX, ECX, EDX, ESP, EBP, ESI, EDI, EBX]) movRM(a, reg, EBX, reg * 4);
  a.emit(0xff, 0x25, ...le(V_JMPT, 4)); // jmp [JMPT]

  // ---- snippet completed
  a.label("save");
  for (let reg = 0; reg < 8; reg++) movMR(a, OUT + reg * 4, reg);
  movRI(a, ESP, DSTACK_TOP);
  a.emit(0x9c); // pushfd
  a.emit(0x8f, 0x05, ...le(OUT + 32, 4)); // pop dword [OUT+32]
  movMI(a, OUT + 36, 0);
  movMI(a, OUT + 40, -1);
  movMI(a, OUT + 44, 0);
  movMI(a, OUT + 48, 0);
  movMI(a, OUT + 52, 0);
  a.jmp("emit");

  // ---- signal handler: [esp+4] = signal, esp+8 = struct sigcontext (i386 non-SA_SIGINFO frame)
  a.label("handler");
  a.emit(0x89, 0xe5); // mov ebp, esp
  movRM(a, EAX, EBP, 4);
  movMR(a, OUT + 36, EAX);
  // sigcontext offsets: edi 16 esi 20 ebp 24 esp 28 ebx 32 edx 36 ecx 40 eax 44 trapno 48 err 52 eip 56
  // eflags 64 cr2 84 (the i386 struct sigcontext)
  const SC = [44, 40, 36, 32, 28, 24, 20, 16];
  for (let reg = 0; reg < 8; reg++) {
    movRM(a, EAX, EBP, 8 + SC[reg]);
    movMR(a, OUT + reg * 4, EAX);
  }
  for (const [sc, out] of [
    [64, 32],
    [48, 40],
    [52, 44],
    [56, 48],
    [84, 52],
  ]) {
    movRM(a, EAX, EBP, 8 + sc);
    movMR(a, OUT + out, EAX);
  }
  movRI(a, ESP, DSTACK_TOP);
  a.call("sigaltstack"); // re-arm: SS_AUTODISARM disarmed it and we never return through sigreturn
  a.jmp("emit");

  // sigaltstack(&ss, NULL) with SS_AUTODISARM: whatever the test's ESP is, even inside the signal
  // stack, the kernel never thinks it is already on it, so every signal starts at its top.
  a.label("sigaltstack");
  movRI(a, EAX, 186);
  movRI(a, EBX, V_SIGSTK);
  movRI(a, ECX, 0);
  int80(a);
  checkOk(a, "fail1");
  a.emit(0xc3);

  // ---- write the record: header + window
  a.label("emit");
  a.emit(0xfc);
  movRI(a, ESI, WINDOW);
  movRI(a, EDI, OUT + OUT_HDR);
  movRI(a, ECX, WINDOW_SIZE / 4);
  a.emit(0xf3, 0xa5); // rep movsd
  movRI(a, ESI, WINDOW + TAIL);
  movRI(a, ECX, TAIL_SIZE / 4);
  a.emit(0xf3, 0xa5); // rep movsd (EDI follows on)
  movRI(a, EAX, 4);
  movRI(a, EBX, 1);
  movRI(a, ECX, OUT);
  movRI(a, EDX, OUT_REC);
  int80(a);
  a.emit(0x3d, ...le(OUT_REC, 4)); // cmp eax, OUT_REC
  a.jcc(5, "fail4");
  a.emit(0x81, 0x05, ...le(V_CUR, 4), ...le(REC, 4)); // add dword [CUR], REC
  a.jmp("next");

  a.label("done");
  movRI(a, EAX, 1);
  movRI(a, EBX, 0);
  int80(a);
  for (let k = 1; k <= 4; k++) {
    a.label(`fail${k}`);
    movRI(a, EAX, 1);
    movRI(a, EBX, 100 + k);
    int80(a);
  }
  a.label("restorer");
  movRI(a, EAX, 173); // rt_sigreturn (not used: the handler never returns)
  int80(a);

  // ---- snippets, each followed by jmp save
  const codeAddr: number[] = [];
  for (const c of cases) {
    codeAddr.push(a.here);
    a.emit(...Array.from(c.code));
    a.jmp("save");
  }
  // ---- case table
  while (a.here & 3) a.emit(0xcc);
  a.label("records");
  cases.forEach((c, k) => {
    for (let r = 0; r < 8; r++) a.emit(...le(c.regs[r], 4));
    a.emit(...le(c.eflags, 4), ...le(codeAddr[k], 4), ...le(c.memSeed, 4), 0, 0, 0, 0);
    if (c.patches.length > 4) throw new Error("at most four patches");
    for (let p = 0; p < 4; p++) {
      const pt = c.patches[p] ?? [WINDOW_SIZE, 0];
      a.emit(...le(pt[0], 4), ...le(pt[1], 4));
    }
  });
  a.label("records_end");
  const body = a.finish();
  if (CODE_BASE + hdrSize + body.length > BSS_BASE) throw new Error("too many cases for one ELF");

  const image = new Uint8Array(hdrSize + body.length);
  const dv = new DataView(image.buffer);
  // ELF header (System V ABI, i386 supplement)
  image.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0], 0); // ELFCLASS32, LSB, version 1, SYSV
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 3, true); // EM_386
  dv.setUint32(20, 1, true);
  dv.setUint32(24, a.addr("_start"), true);
  dv.setUint32(28, 52, true); // e_phoff
  dv.setUint32(32, 0, true); // e_shoff
  dv.setUint32(36, 0, true);
  dv.setUint16(40, 52, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, 3, true);
  dv.setUint16(46, 40, true);
  const ph = (k: number, off: number, vaddr: number, filesz: number, memsz: number, flags: number) => {
    const o = 52 + k * 32;
    dv.setUint32(o, 1, true); // PT_LOAD
    dv.setUint32(o + 4, off, true);
    dv.setUint32(o + 8, vaddr, true);
    dv.setUint32(o + 12, vaddr, true);
    dv.setUint32(o + 16, filesz, true);
    dv.setUint32(o + 20, memsz, true);
    dv.setUint32(o + 24, flags, true);
    dv.setUint32(o + 28, 0x1000, true);
  };
  ph(0, 0, CODE_BASE, image.length, image.length, 5); // R X
  ph(1, 0, BSS_BASE, 0, BSS_SIZE, 6); // R W
  ph(2, 0, WINDOW, 0, 0x1000, 6); // R W
  image.set(body, hdrSize);
  return { image, codeAddr, codeEnd: (CODE_BASE + image.length + 0xfff) & ~0xfff };
}

export class HostUnavailable extends Error {}

/** The test process died (a case corrupted the driver): `completed` cases had reported. */
export class HostCrash extends Error {
  constructor(
    message: string,
    readonly completed: number,
  ) {
    super(message);
  }
}

let tmpDir: string | null = null;
let seq = 0;

function scratchDir(): string {
  if (tmpDir === null) {
    tmpDir = mkdtempSync(join(tmpdir(), "tsqemu-hostdiff-"));
    const dir = tmpDir;
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return tmpDir;
}

let probed: Promise<void> | null = null;

/**
 * Check once that the host runs static i386 ELF executables: a minimal one must exit with 42.
 * (A kernel without IA-32 emulation gives ENOEXEC, and execvp then hands the file to /bin/sh.)
 */
export function probeHost(): Promise<void> {
  if (probed === null) {
    const image = new Uint8Array(52 + 32 + 12);
    const dv = new DataView(image.buffer);
    image.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0], 0);
    dv.setUint16(16, 2, true);
    dv.setUint16(18, 3, true);
    dv.setUint32(20, 1, true);
    dv.setUint32(24, CODE_BASE + 84, true);
    dv.setUint32(28, 52, true);
    dv.setUint16(40, 52, true);
    dv.setUint16(42, 32, true);
    dv.setUint16(44, 1, true);
    dv.setUint32(52, 1, true);
    dv.setUint32(60, CODE_BASE, true);
    dv.setUint32(64, CODE_BASE, true);
    dv.setUint32(68, image.length, true);
    dv.setUint32(72, image.length, true);
    dv.setUint32(76, 5, true);
    dv.setUint32(80, 0x1000, true);
    image.set([0xb8, 1, 0, 0, 0, 0xbb, 42, 0, 0, 0, 0xcd, 0x80], 84); // exit(42)
    probed = execElf(image).then(({ code, signal, stderr }) => {
      if (code !== 42)
        throw new HostUnavailable(
          `cannot execute a 32-bit ELF on this host (probe exited with ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ""})`,
        );
    });
  }
  return probed;
}

function execElf(
  image: Uint8Array,
): Promise<{ code: number | null; signal: string | null; out: Buffer; stderr: string }> {
  const file = join(scratchDir(), `case${seq++}.elf`);
  writeFileSync(file, image);
  chmodSync(file, 0o755);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const child = spawn(file, [], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d: Buffer) => chunks.push(d));
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      rmSync(file, { force: true });
      reject(new HostUnavailable(`cannot execute a 32-bit ELF on this host (${e.code ?? e.message})`));
    });
    child.on("close", (code, signal) => {
      rmSync(file, { force: true });
      resolve({ code, signal, out: Buffer.concat(chunks), stderr });
    });
  });
}

/** Run an ELF image natively; resolves with its stdout. Throws HostUnavailable if it cannot execute. */
export async function runElf(image: Uint8Array): Promise<Buffer> {
  await probeHost();
  const { code, signal, out, stderr } = await execElf(image);
  if (code === 0) return out;
  throw new HostCrash(
    `host ELF failed: exit ${code} signal ${signal}${stderr ? `: ${stderr}` : ""} (101-104: setup syscall failed) after ${Math.floor(out.length / OUT_REC)} records`,
    Math.floor(out.length / OUT_REC),
  );
}

export function parseRecords(out: Buffer, n: number): StateOut[] {
  if (out.length !== n * OUT_REC)
    throw new Error(`host output is ${out.length} bytes, expected ${n} records of ${OUT_REC}`);
  const res: StateOut[] = [];
  for (let k = 0; k < n; k++) {
    const o = k * OUT_REC;
    const regs = new Int32Array(8);
    for (let r = 0; r < 8; r++) regs[r] = out.readInt32LE(o + r * 4);
    res.push({
      regs,
      eflags: out.readInt32LE(o + 32),
      sig: out.readInt32LE(o + 36),
      vector: out.readInt32LE(o + 40),
      err: out.readInt32LE(o + 44),
      eip: out.readInt32LE(o + 48),
      cr2: out.readInt32LE(o + 52),
      mem: new Uint8Array(out.subarray(o + OUT_HDR, o + OUT_REC)),
    });
  }
  return res;
}

/** Run cases on the host CPU. */
export async function runHost(
  cases: readonly HostCase[],
): Promise<{ out: StateOut[]; image: Uint8Array; codeAddr: number[]; codeEnd: number }> {
  const { image, codeAddr, codeEnd } = buildElf(cases);
  const buf = await runElf(image);
  return { out: parseRecords(buf, cases.length), image, codeAddr, codeEnd };
}
