// Opcode map: for each one-byte (0x00-0xff) and 0F-prefixed (0x100-0x1ff) opcode, its format and
// handlers (SDM Vol. 2D, Appendix A). Opcodes without an entry raise #UD.
import type { CPU } from "./cpu.ts";
import { fwait, fxrstor, fxsave, x87Escape } from "./fpu.ts";
import type { Handler, Insn } from "./insn.ts";
import * as A from "./ops/arith-ops.ts";
import * as C from "./ops/control-ops.ts";
import * as D from "./ops/data-ops.ts";
import * as S from "./ops/system-ops.ts";

export const IMM_NONE = 0;
export const IMM_IB = 1; // imm8 zero-extended
export const IMM_IBS = 2; // imm8 sign-extended
export const IMM_IW = 3; // imm16
export const IMM_IZ = 4; // imm16/imm32 by operand size
export const IMM_IWIB = 5; // ENTER: imm16, imm8
export const IMM_AP = 6; // far pointer: offset16/32 then selector16
export const IMM_MOFFS = 7; // moffs by address size (into disp)

export interface OpSpec {
  modrm: boolean;
  imm: number;
  h16: Handler;
  h32: Handler;
  /** LOCK prefix allowed (memory destination forms only). */
  lock?: boolean;
  /** Memory operand required (#UD with mod = 3). */
  mem?: boolean;
  /** Register operand required (#UD with mod != 3). */
  reg?: boolean;
  /** ModRM always names registers, whatever mod says (MOV CR/DR). */
  rmReg?: boolean;
  /** ModRM.reg selects the instruction (opcode groups). */
  group?: (OpSpec | undefined)[];
}

export const OPTABLE: (OpSpec | undefined)[] = new Array(0x200);

interface Opts {
  lock?: boolean;
  mem?: boolean;
  reg?: boolean;
  rmReg?: boolean;
}

function spec(modrm: boolean, imm: number, h: Handler, o: Opts = {}): OpSpec {
  return { modrm, imm, h16: h, h32: h, lock: o.lock, mem: o.mem, reg: o.reg, rmReg: o.rmReg };
}

function def(op: number, modrm: boolean, imm: number, h: Handler, o: Opts = {}): void {
  OPTABLE[op] = spec(modrm, imm, h, o);
}

function group(op: number, members: (OpSpec | undefined)[]): void {
  OPTABLE[op] = { modrm: true, imm: IMM_NONE, h16: ud, h32: ud, group: members };
}

function ud(c: CPU, _i: Insn): void {
  c.undefinedOpcode();
}

// ---- 00-3F: ALU, segment push/pop, BCD
for (let k = 0; k < 8; k++) {
  const base = k << 3;
  def(base + 0, true, IMM_NONE, A.aluEbGb, { lock: k !== 7 });
  def(base + 1, true, IMM_NONE, A.aluEvGv, { lock: k !== 7 });
  def(base + 2, true, IMM_NONE, A.aluGbEb);
  def(base + 3, true, IMM_NONE, A.aluGvEv);
  def(base + 4, false, IMM_IB, A.aluALIb);
  def(base + 5, false, IMM_IZ, A.aluAXIz);
}
for (const op of [0x06, 0x0e, 0x16, 0x1e]) def(op, false, IMM_NONE, D.pushSeg);
for (const op of [0x07, 0x17, 0x1f]) def(op, false, IMM_NONE, D.popSeg);
def(0x27, false, IMM_NONE, A.opDaa);
def(0x2f, false, IMM_NONE, A.opDas);
def(0x37, false, IMM_NONE, A.opAaa);
def(0x3f, false, IMM_NONE, A.opAas);

// ---- 40-7F
for (let k = 0; k < 8; k++) {
  def(0x40 + k, false, IMM_NONE, A.incReg);
  def(0x48 + k, false, IMM_NONE, A.decReg);
  def(0x50 + k, false, IMM_NONE, D.pushReg);
  def(0x58 + k, false, IMM_NONE, D.popReg);
}
def(0x60, false, IMM_NONE, D.pusha);
def(0x61, false, IMM_NONE, D.popa);
def(0x62, true, IMM_NONE, C.bound, { mem: true });
def(0x63, true, IMM_NONE, S.arpl);
def(0x68, false, IMM_IZ, D.pushImm);
def(0x69, true, IMM_IZ, A.imulGvEvIz);
def(0x6a, false, IMM_IBS, D.pushImm);
def(0x6b, true, IMM_IBS, A.imulGvEvIz);
def(0x6c, false, IMM_NONE, D.ins);
def(0x6d, false, IMM_NONE, D.ins);
def(0x6e, false, IMM_NONE, D.outs);
def(0x6f, false, IMM_NONE, D.outs);
for (let k = 0; k < 16; k++) def(0x70 + k, false, IMM_IBS, C.jccRel);

// ---- 80-BF
const lockAlu = (h: Handler, k: number) => spec(true, IMM_NONE, h, { lock: k !== 7 });
group(
  0x80,
  [0, 1, 2, 3, 4, 5, 6, 7].map((k) => ({ ...lockAlu(A.grp1Eb, k), imm: IMM_IB })),
);
group(
  0x81,
  [0, 1, 2, 3, 4, 5, 6, 7].map((k) => ({ ...lockAlu(A.grp1Ev, k), imm: IMM_IZ })),
);
group(
  0x82,
  [0, 1, 2, 3, 4, 5, 6, 7].map((k) => ({ ...lockAlu(A.grp1Eb, k), imm: IMM_IB })),
);
group(
  0x83,
  [0, 1, 2, 3, 4, 5, 6, 7].map((k) => ({ ...lockAlu(A.grp1Ev, k), imm: IMM_IBS })),
);
def(0x84, true, IMM_NONE, A.testEbGb);
def(0x85, true, IMM_NONE, A.testEvGv);
def(0x86, true, IMM_NONE, D.xchgEbGb, { lock: true });
def(0x87, true, IMM_NONE, D.xchgEvGv, { lock: true });
def(0x88, true, IMM_NONE, D.movEbGb);
def(0x89, true, IMM_NONE, D.movEvGv);
def(0x8a, true, IMM_NONE, D.movGbEb);
def(0x8b, true, IMM_NONE, D.movGvEv);
def(0x8c, true, IMM_NONE, D.movEwSw);
def(0x8d, true, IMM_NONE, D.lea, { mem: true });
def(0x8e, true, IMM_NONE, D.movSwEw);
group(0x8f, [spec(true, IMM_NONE, D.popEv)]);
def(0x90, false, IMM_NONE, D.nop);
for (let k = 1; k < 8; k++) def(0x90 + k, false, IMM_NONE, D.xchgAxReg);
def(0x98, false, IMM_NONE, D.cbw);
def(0x99, false, IMM_NONE, D.cwd);
def(0x9a, false, IMM_AP, C.callFarAp);
def(0x9b, false, IMM_NONE, fwait);
def(0x9c, false, IMM_NONE, D.pushf);
def(0x9d, false, IMM_NONE, D.popf);
def(0x9e, false, IMM_NONE, D.sahf);
def(0x9f, false, IMM_NONE, D.lahf);
def(0xa0, false, IMM_MOFFS, D.movALOb);
def(0xa1, false, IMM_MOFFS, D.movAXOv);
def(0xa2, false, IMM_MOFFS, D.movObAL);
def(0xa3, false, IMM_MOFFS, D.movOvAX);
def(0xa4, false, IMM_NONE, D.movs);
def(0xa5, false, IMM_NONE, D.movs);
def(0xa6, false, IMM_NONE, D.cmps);
def(0xa7, false, IMM_NONE, D.cmps);
def(0xa8, false, IMM_IB, A.testALIb);
def(0xa9, false, IMM_IZ, A.testAXIz);
def(0xaa, false, IMM_NONE, D.stos);
def(0xab, false, IMM_NONE, D.stos);
def(0xac, false, IMM_NONE, D.lods);
def(0xad, false, IMM_NONE, D.lods);
def(0xae, false, IMM_NONE, D.scas);
def(0xaf, false, IMM_NONE, D.scas);
for (let k = 0; k < 8; k++) {
  def(0xb0 + k, false, IMM_IB, D.movRegIb);
  def(0xb8 + k, false, IMM_IZ, D.movRegIz);
}

// ---- C0-FF
const grp2 = (h: Handler, imm: number) => [0, 1, 2, 3, 4, 5, 6, 7].map(() => spec(true, imm, h));
group(0xc0, grp2(A.grp2EbIb, IMM_IB));
group(0xc1, grp2(A.grp2EvIb, IMM_IB));
def(0xc2, false, IMM_IW, C.retNear);
def(0xc3, false, IMM_NONE, C.retNear);
def(0xc4, true, IMM_NONE, D.loadFarPtr, { mem: true });
def(0xc5, true, IMM_NONE, D.loadFarPtr, { mem: true });
group(0xc6, [spec(true, IMM_IB, D.movEbIb)]);
group(0xc7, [spec(true, IMM_IZ, D.movEvIz)]);
def(0xc8, false, IMM_IWIB, C.enter);
def(0xc9, false, IMM_NONE, C.leave);
def(0xca, false, IMM_IW, C.retFar);
def(0xcb, false, IMM_NONE, C.retFar);
def(0xcc, false, IMM_NONE, C.int3);
def(0xcd, false, IMM_IB, C.intIb);
def(0xce, false, IMM_NONE, C.into);
def(0xcf, false, IMM_NONE, C.iretOp);
group(0xd0, grp2(A.grp2Eb1, IMM_NONE));
group(0xd1, grp2(A.grp2Ev1, IMM_NONE));
group(0xd2, grp2(A.grp2EbCL, IMM_NONE));
group(0xd3, grp2(A.grp2EvCL, IMM_NONE));
def(0xd4, false, IMM_IB, A.opAam);
def(0xd5, false, IMM_IB, A.opAad);
def(0xd6, false, IMM_NONE, A.salc);
def(0xd7, false, IMM_NONE, D.xlat);
for (let k = 0; k < 8; k++) def(0xd8 + k, true, IMM_NONE, x87Escape);
def(0xe0, false, IMM_IBS, C.loopne);
def(0xe1, false, IMM_IBS, C.loope);
def(0xe2, false, IMM_IBS, C.loop);
def(0xe3, false, IMM_IBS, C.jcxz);
def(0xe4, false, IMM_IB, D.inALIb);
def(0xe5, false, IMM_IB, D.inAXIb);
def(0xe6, false, IMM_IB, D.outIbAL);
def(0xe7, false, IMM_IB, D.outIbAX);
def(0xe8, false, IMM_IZ, C.callRel);
def(0xe9, false, IMM_IZ, C.jmpRel);
def(0xea, false, IMM_AP, C.jmpFarAp);
def(0xeb, false, IMM_IBS, C.jmpRel);
def(0xec, false, IMM_NONE, D.inALDX);
def(0xed, false, IMM_NONE, D.inAXDX);
def(0xee, false, IMM_NONE, D.outDXAL);
def(0xef, false, IMM_NONE, D.outDXAX);
def(0xf1, false, IMM_NONE, C.int1);
def(0xf4, false, IMM_NONE, C.hlt);
def(0xf5, false, IMM_NONE, D.cmc);
{
  const m = (h: Handler, imm = IMM_NONE, lock = false) => spec(true, imm, h, { lock });
  group(0xf6, [
    m(A.grp3Eb, IMM_IB),
    m(A.grp3Eb, IMM_IB),
    m(A.grp3Eb, IMM_NONE, true),
    m(A.grp3Eb, IMM_NONE, true),
    m(A.grp3Eb),
    m(A.grp3Eb),
    m(A.grp3Eb),
    m(A.grp3Eb),
  ]);
  group(0xf7, [
    m(A.grp3Ev, IMM_IZ),
    m(A.grp3Ev, IMM_IZ),
    m(A.grp3Ev, IMM_NONE, true),
    m(A.grp3Ev, IMM_NONE, true),
    m(A.grp3Ev),
    m(A.grp3Ev),
    m(A.grp3Ev),
    m(A.grp3Ev),
  ]);
  group(0xfe, [m(A.incE8, IMM_NONE, true), m(A.decE8, IMM_NONE, true)]);
  group(0xff, [
    m(A.incEv, IMM_NONE, true),
    m(A.decEv, IMM_NONE, true),
    m(C.callEv),
    spec(true, IMM_NONE, C.callFarEp, { mem: true }),
    m(C.jmpEv),
    spec(true, IMM_NONE, C.jmpFarEp, { mem: true }),
    m(D.pushEv),
    undefined,
  ]);
}
def(0xf8, false, IMM_NONE, D.clc);
def(0xf9, false, IMM_NONE, D.stc);
def(0xfa, false, IMM_NONE, D.cli);
def(0xfb, false, IMM_NONE, D.sti);
def(0xfc, false, IMM_NONE, D.cld);
def(0xfd, false, IMM_NONE, D.std);

// ---- 0F xx
group(
  0x100,
  [0, 1, 2, 3, 4, 5].map(() => spec(true, IMM_NONE, S.grp6)),
);
group(0x101, [
  spec(true, IMM_NONE, S.grp7, { mem: true }),
  spec(true, IMM_NONE, S.grp7, { mem: true }),
  spec(true, IMM_NONE, S.grp7, { mem: true }),
  spec(true, IMM_NONE, S.grp7, { mem: true }),
  spec(true, IMM_NONE, S.grp7),
  undefined,
  spec(true, IMM_NONE, S.grp7),
  spec(true, IMM_NONE, S.grp7, { mem: true }),
]);
def(0x102, true, IMM_NONE, S.lar);
def(0x103, true, IMM_NONE, S.lsl);
def(0x106, false, IMM_NONE, S.clts);
def(0x108, false, IMM_NONE, S.invd);
def(0x109, false, IMM_NONE, S.wbinvd);
def(0x10b, false, IMM_NONE, S.ud2);
// 0F 18-1F: hint NOPs / long NOP (0F 1F /0), P6 and later.
for (let k = 0x118; k <= 0x11f; k++) def(k, true, IMM_NONE, D.nop);
// MOV to/from CR and DR always use the register form (mod is ignored).
def(0x120, true, IMM_NONE, S.movRCr, { rmReg: true });
def(0x121, true, IMM_NONE, S.movRDr, { rmReg: true });
def(0x122, true, IMM_NONE, S.movCrR, { rmReg: true });
def(0x123, true, IMM_NONE, S.movDrR, { rmReg: true });
def(0x130, false, IMM_NONE, S.wrmsr);
def(0x131, false, IMM_NONE, S.rdtsc);
def(0x132, false, IMM_NONE, S.rdmsr);
def(0x133, false, IMM_NONE, S.rdpmc);
def(0x134, false, IMM_NONE, S.sysenter);
def(0x135, false, IMM_NONE, S.sysexit);
for (let k = 0; k < 16; k++) {
  def(0x140 + k, true, IMM_NONE, A.cmovcc);
  def(0x180 + k, false, IMM_IZ, C.jccRel);
  def(0x190 + k, true, IMM_NONE, A.setcc);
}
def(0x1a0, false, IMM_NONE, D.pushSeg);
def(0x1a1, false, IMM_NONE, D.popSeg);
def(0x1a2, false, IMM_NONE, S.cpuidOp);
def(0x1a3, true, IMM_NONE, A.btEvGv);
def(0x1a4, true, IMM_IB, A.shldIb);
def(0x1a5, true, IMM_NONE, A.shldCL);
def(0x1a8, false, IMM_NONE, D.pushSeg);
def(0x1a9, false, IMM_NONE, D.popSeg);
def(0x1aa, false, IMM_NONE, S.rsm);
def(0x1ab, true, IMM_NONE, A.btsEvGv, { lock: true });
def(0x1ac, true, IMM_IB, A.shrdIb);
def(0x1ad, true, IMM_NONE, A.shrdCL);
// 0F AE: FXSAVE /0, FXRSTOR /1 (memory only). The SSE members (LDMXCSR, STMXCSR, fences, CLFLUSH)
// stay #UD: CPUID reports no SSE.
group(0x1ae, [spec(true, IMM_NONE, fxsave, { mem: true }), spec(true, IMM_NONE, fxrstor, { mem: true })]);
def(0x1af, true, IMM_NONE, A.imulGvEv);
def(0x1b0, true, IMM_NONE, A.cmpxchg, { lock: true });
def(0x1b1, true, IMM_NONE, A.cmpxchg, { lock: true });
def(0x1b2, true, IMM_NONE, D.loadFarPtr, { mem: true });
def(0x1b3, true, IMM_NONE, A.btrEvGv, { lock: true });
def(0x1b4, true, IMM_NONE, D.loadFarPtr, { mem: true });
def(0x1b5, true, IMM_NONE, D.loadFarPtr, { mem: true });
def(0x1b6, true, IMM_NONE, D.movzxb);
def(0x1b7, true, IMM_NONE, D.movzxw);
group(0x1ba, [
  undefined,
  undefined,
  undefined,
  undefined,
  spec(true, IMM_IB, A.grp8),
  spec(true, IMM_IB, A.grp8, { lock: true }),
  spec(true, IMM_IB, A.grp8, { lock: true }),
  spec(true, IMM_IB, A.grp8, { lock: true }),
]);
def(0x1bb, true, IMM_NONE, A.btcEvGv, { lock: true });
def(0x1bc, true, IMM_NONE, A.bsf);
def(0x1bd, true, IMM_NONE, A.bsr);
def(0x1be, true, IMM_NONE, D.movsxb);
def(0x1bf, true, IMM_NONE, D.movsxw);
def(0x1c0, true, IMM_NONE, A.xadd, { lock: true });
def(0x1c1, true, IMM_NONE, A.xadd, { lock: true });
group(0x1c7, [undefined, spec(true, IMM_NONE, A.cmpxchg8b, { lock: true, mem: true })]);
for (let k = 0; k < 8; k++) def(0x1c8 + k, false, IMM_NONE, D.bswap);
