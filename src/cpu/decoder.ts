// x86 instruction decoder: prefixes, opcode, ModRM/SIB, displacement and immediates into an Insn.
// The opcode → handler mapping lives in optable.ts; this file only knows instruction formats.
import type { CPU } from "./cpu.ts";
import { IF_AD32, IF_LOCK, IF_OP32, IF_REP, IF_REPNE, IF_SEGOVR, type Insn, undefHandler } from "./insn.ts";
import { specialize } from "./ops/fast-ops.ts";
import {
  IMM_AP,
  IMM_IB,
  IMM_IBS,
  IMM_IW,
  IMM_IWIB,
  IMM_IZ,
  IMM_MOFFS,
  IMM_NONE,
  OPTABLE,
  type OpSpec,
} from "./optable.ts";
import { CS, DS, EBP, ESP, EXC_GP, EXC_UD, R_SEGBASE, R_SEGLIMIT, SS } from "./state.ts";

const MAX_INSN_LEN = 15;

// The instruction being decoded (module state rather than a closure per decode: no allocation).
let fc: CPU;
let fLin = 0;
let fStart = 0;
let fLimit = 0;
let fMode = 0;
let p = 0;

/** The next instruction byte, with the CS limit and length checks. */
function fetch(): number {
  if (p >= MAX_INSN_LEN) fc.raise(EXC_GP, 0);
  if (fMode === 0 ? ((fStart + p) & 0xffff) > fLimit : fStart + p > fLimit) fc.raise(EXC_GP, 0);
  // Through the TLB at the current privilege; a miss walks the page tables and may raise #PF.
  return fc.rd8((fLin + p++) | 0);
}

/**
 * Decode the instruction at linear address `lin` into `i`, for code mode `mode` (bit 0: 32-bit CS).
 * Instruction bytes are read with the current privilege; a fetch fault raises #PF as hardware does.
 */
export function decode(c: CPU, i: Insn, lin: number, mode: number): Insn {
  fc = c;
  fLin = lin;
  fLimit = c.r[R_SEGLIMIT + CS] >>> 0;
  fStart = (lin - c.r[R_SEGBASE + CS]) >>> 0;
  fMode = mode;
  p = 0;

  let flags = mode & 1 ? IF_OP32 | IF_AD32 : 0;
  let seg = -1;
  let b: number;
  for (;;) {
    b = fetch();
    switch (b) {
      case 0x66:
        flags = (flags & ~IF_OP32) | ((mode & 1) ^ 1 ? IF_OP32 : 0);
        continue;
      case 0x67:
        flags = (flags & ~IF_AD32) | ((mode & 1) ^ 1 ? IF_AD32 : 0);
        continue;
      case 0x26:
      case 0x2e:
      case 0x36:
      case 0x3e:
        seg = (b >> 3) & 3;
        flags |= IF_SEGOVR;
        continue;
      case 0x64:
      case 0x65:
        seg = b - 0x60;
        flags |= IF_SEGOVR;
        continue;
      case 0xf0:
        flags |= IF_LOCK;
        continue;
      case 0xf2:
        flags = (flags & ~IF_REP) | IF_REPNE;
        continue;
      case 0xf3:
        flags = (flags & ~IF_REPNE) | IF_REP;
        continue;
    }
    break;
  }
  let op = b;
  if (op === 0x0f) op = 0x100 | fetch();
  let spec: OpSpec | undefined = OPTABLE[op];
  i.op = op;
  i.mode = mode;
  i.base = -1;
  i.index = -1;
  i.scale = 0;
  i.disp = 0;
  i.imm = 0;
  i.imm2 = 0;
  i.mod = 3;
  i.reg = 0;
  i.rm = 0;
  i.seg = seg >= 0 ? seg : DS;

  if (spec?.modrm) {
    const m = fetch();
    i.mod = m >> 6;
    i.reg = (m >> 3) & 7;
    i.rm = m & 7;
    if (spec.rmReg) i.mod = 3;
    if (i.mod !== 3) {
      let defSeg = DS;
      if (flags & IF_AD32) {
        let rm = i.rm;
        if (rm === 4) {
          const sib = fetch();
          i.scale = sib >> 6;
          const idx = (sib >> 3) & 7;
          i.index = idx === 4 ? -1 : idx;
          rm = sib & 7;
          if (rm === 5 && i.mod === 0) {
            i.disp = fetch() | (fetch() << 8) | (fetch() << 16) | (fetch() << 24);
          } else {
            i.base = rm;
            if (rm === ESP || rm === EBP) defSeg = SS;
          }
        } else if (rm === 5 && i.mod === 0) {
          i.disp = fetch() | (fetch() << 8) | (fetch() << 16) | (fetch() << 24);
        } else {
          i.base = rm;
          if (rm === EBP) defSeg = SS;
        }
        if (i.mod === 1) i.disp = (fetch() << 24) >> 24;
        else if (i.mod === 2) i.disp = fetch() | (fetch() << 8) | (fetch() << 16) | (fetch() << 24);
      } else {
        // 16-bit forms: BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP (or disp16), BX.
        switch (i.rm) {
          case 0:
            i.base = 3;
            i.index = 6;
            break;
          case 1:
            i.base = 3;
            i.index = 7;
            break;
          case 2:
            i.base = 5;
            i.index = 6;
            defSeg = SS;
            break;
          case 3:
            i.base = 5;
            i.index = 7;
            defSeg = SS;
            break;
          case 4:
            i.base = 6;
            break;
          case 5:
            i.base = 7;
            break;
          case 6:
            if (i.mod === 0) i.disp = fetch() | (fetch() << 8);
            else {
              i.base = 5;
              defSeg = SS;
            }
            break;
          default:
            i.base = 3;
        }
        if (i.mod === 1) i.disp = (fetch() << 24) >> 24;
        else if (i.mod === 2) i.disp = fetch() | (fetch() << 8);
      }
      if (seg < 0) i.seg = defSeg;
    }
    if (spec.group) spec = spec.group[i.reg];
  }

  if (spec !== undefined) {
    const op32 = (flags & IF_OP32) !== 0;
    switch (spec.imm) {
      case IMM_NONE:
        break;
      case IMM_IB:
        i.imm = fetch();
        break;
      case IMM_IBS:
        i.imm = (fetch() << 24) >> 24;
        break;
      case IMM_IW:
        i.imm = fetch() | (fetch() << 8);
        break;
      case IMM_IZ:
        i.imm = op32
          ? fetch() | (fetch() << 8) | (fetch() << 16) | (fetch() << 24)
          : fetch() | (fetch() << 8);
        break;
      case IMM_IWIB:
        i.imm = fetch() | (fetch() << 8);
        i.imm2 = fetch();
        break;
      case IMM_AP:
        i.imm = op32
          ? fetch() | (fetch() << 8) | (fetch() << 16) | (fetch() << 24)
          : fetch() | (fetch() << 8);
        i.imm2 = fetch() | (fetch() << 8);
        break;
      case IMM_MOFFS:
        i.disp =
          flags & IF_AD32
            ? fetch() | (fetch() << 8) | (fetch() << 16) | (fetch() << 24)
            : fetch() | (fetch() << 8);
        break;
    }
    // Sign-extended immediates for 16-bit operand size are kept as 16-bit values by the handlers.
    i.h = op32 ? spec.h32 : spec.h16;
    // LOCK is only legal on read-modify-write memory forms (SDM Vol. 2, LOCK).
    if (flags & IF_LOCK && (!spec.lock || i.mod === 3)) i.h = lockUd;
    if (spec.mem && i.mod === 3) i.h = undefHandler;
    if (spec.reg && i.mod !== 3) i.h = undefHandler;
  } else {
    i.h = undefHandler;
  }
  i.flags = flags;
  i.len = p;
  specialize(i);
  return i;
}

function lockUd(c: CPU): void {
  c.raise(EXC_UD);
}
