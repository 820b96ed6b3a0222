// The CPU state block: one table of offsets shared by the interpreter, the JIT's wasm emitter
// and the board. Everything lives in the machine's WebAssembly.Memory (see machine/memory.ts),
// viewed from TypeScript as an Int32Array `r` indexed by the constants below.

/** Byte offset of the state block in the shared memory. */
export const STATE_BASE = 0;
/** Size reserved for the state block (the FPU area follows the integer registers). */
export const STATE_BYTES = 0x1000;

// General registers, in x86 encoding order.
export const EAX = 0;
export const ECX = 1;
export const EDX = 2;
export const EBX = 3;
export const ESP = 4;
export const EBP = 5;
export const ESI = 6;
export const EDI = 7;
export const R_EIP = 8;
/** EFLAGS bits that are not lazily held (everything but the six arithmetic flags when lazy). */
export const R_EFLAGS = 9;
// Lazy arithmetic flags: the last flag-setting operation, its operands and result.
export const R_FOP = 10;
export const R_FA = 11;
export const R_FB = 12;
export const R_FRES = 13;
/** Operand size in bits of the last flag-setting operation (8, 16, 32). */
export const R_FSIZE = 14;

// Segment registers in x86 encoding order; LDTR and TR share the descriptor-cache arrays.
export const ES = 0;
export const CS = 1;
export const SS = 2;
export const DS = 3;
export const FS = 4;
export const GS = 5;
export const LDTR = 6;
export const TR = 7;
/** r[R_SEL + seg]: visible selector. */
export const R_SEL = 16;
/** r[R_SEGBASE + seg]: descriptor cache base. */
export const R_SEGBASE = 24;
/** r[R_SEGLIMIT + seg]: descriptor cache limit, already scaled by G (byte granular, inclusive). */
export const R_SEGLIMIT = 32;
/** r[R_SEGATTR + seg]: descriptor bits 8..23 of the high dword (type, S, DPL, P, AVL, L, D/B, G). */
export const R_SEGATTR = 40;

export const R_CR0 = 48;
export const R_CR2 = 49;
export const R_CR3 = 50;
export const R_CR4 = 51;
export const R_DR0 = 52; // DR0..DR7 at 52..59
export const R_GDTR_BASE = 60;
export const R_GDTR_LIMIT = 61;
export const R_IDTR_BASE = 62;
export const R_IDTR_LIMIT = 63;
export const R_CPL = 64;
export const R_SYSENTER_CS = 65;
export const R_SYSENTER_ESP = 66;
export const R_SYSENTER_EIP = 67;
/** 1 while the instruction after STI / MOV SS / POP SS runs (interrupts inhibited). */
export const R_INHIBIT_IRQ = 68;
export const R_A20_MASK = 69;
/** TSC offset, low/high, added to the virtual clock's count. */
export const R_TSC_OFF_LO = 70;
export const R_TSC_OFF_HI = 71;
/** Pending events (EV_* in cpu.ts), in the block so compiled code can see them between blocks. */
export const R_EVENTS = 72;
/** Instructions the kqemu dispatcher had completed before the block it is running (exact count at a fault). */
export const R_KQ_DONE = 73;
/**
 * Per segment (74..81): 1 when its cache holds a present, writable, expand-up data segment with a
 * 4 GiB limit, whatever its base: compiled code may then add the base without limit checks.
 */
export const R_SEGFAST = 74;
/** Blocks the kqemu dispatcher called in its last run (statistics: dispatches). */
export const R_KQ_DISPATCHES = 82;
/**
 * Instructions the running compiled block had completed before the helper it called (written before
 * each helper call that may fault when the translator counts exactly: see Translator.exactCount).
 */
export const R_KQ_INBLOCK = 83;
/** Slow-path exits of compiled blocks (statistics: a memory access the block left to the interpreter). */
export const R_KQ_SLOWEXITS = 84;
/** Id of the compiled block whose frame-window check failed at its head (0: none; see translate.ts). */
export const R_KQ_WINFAIL = 85;
/**
 * Per data segment register (ES..GS, 86..97, two words each): the GDT descriptor its cache was last
 * loaded from by a protected-mode MOV/POP (accessed bit set), and (98..103) the CPL of that load plus
 * one, 0 once the cache changed any other way (CPU.segChanged()). A reload of the same selector at
 * the same CPL from the same descriptor bytes leaves the cache as it is: compiled code does only
 * that check (the kernel reloads __USER_DS into DS and ES at every system call).
 */
export const R_SEGRAW = 86;
export const R_SEGRAWCPL = 98;
/**
 * The kqemu dispatcher's budget for its current run: a compiled block that loops goes around again
 * while its instructions plus R_KQ_DONE stay below it (see Translator.jumpTo()).
 */
export const R_KQ_BUDGET = 104;
/**
 * Per segment (105..112): 1 when its cache is flat (R_SEGFAST with base 0: no checks, no base to
 * add). The interpreter's CPU.segFlat is this view, so that compiled code loading FS or GS keeps it
 * true (translate.ts segLoadFsGs()).
 */
export const R_SEGFLAT = 105;
/** Byte offset of the x87 state area within the block. */
export const FPU_BYTE_OFFSET = 0x200;

// EFLAGS bits (Intel SDM Vol. 1, 3.4.3).
export const EFLAGS_CF = 1 << 0;
export const EFLAGS_FIXED = 1 << 1;
export const EFLAGS_PF = 1 << 2;
export const EFLAGS_AF = 1 << 4;
export const EFLAGS_ZF = 1 << 6;
export const EFLAGS_SF = 1 << 7;
export const EFLAGS_TF = 1 << 8;
export const EFLAGS_IF = 1 << 9;
export const EFLAGS_DF = 1 << 10;
export const EFLAGS_OF = 1 << 11;
export const EFLAGS_IOPL = 3 << 12;
export const EFLAGS_NT = 1 << 14;
export const EFLAGS_RF = 1 << 16;
export const EFLAGS_VM = 1 << 17;
export const EFLAGS_AC = 1 << 18;
export const EFLAGS_VIF = 1 << 19;
export const EFLAGS_VIP = 1 << 20;
export const EFLAGS_ID = 1 << 21;
export const EFLAGS_ARITH = EFLAGS_CF | EFLAGS_PF | EFLAGS_AF | EFLAGS_ZF | EFLAGS_SF | EFLAGS_OF;

// CR0 / CR4 bits (SDM Vol. 3A, 2.5).
export const CR0_PE = 1 << 0;
export const CR0_MP = 1 << 1;
export const CR0_EM = 1 << 2;
export const CR0_TS = 1 << 3;
export const CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5;
export const CR0_WP = 1 << 16;
export const CR0_AM = 1 << 18;
export const CR0_NW = 1 << 29;
export const CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;
export const CR4_VME = 1 << 0;
export const CR4_PVI = 1 << 1;
export const CR4_TSD = 1 << 2;
export const CR4_DE = 1 << 3;
export const CR4_PSE = 1 << 4;
export const CR4_PGE = 1 << 7;
export const CR4_OSFXSR = 1 << 9;

// Exception vectors (SDM Vol. 3A, 6.3.1).
export const EXC_DE = 0;
export const EXC_DB = 1;
export const EXC_NMI = 2;
export const EXC_BP = 3;
export const EXC_OF = 4;
export const EXC_BR = 5;
export const EXC_UD = 6;
export const EXC_NM = 7;
export const EXC_DF = 8;
export const EXC_TS = 10;
export const EXC_NP = 11;
export const EXC_SS = 12;
export const EXC_GP = 13;
export const EXC_PF = 14;
export const EXC_MF = 16;
export const EXC_AC = 17;
export const EXC_MC = 18;

// Descriptor attribute bits as held in r[R_SEGATTR+seg] (bits 8..23 of the descriptor's high dword,
// shifted down by 8).
export const ATTR_TYPE = 0x0f;
export const ATTR_ACCESSED = 0x01;
export const ATTR_S = 0x10;
export const ATTR_DPL_SHIFT = 5;
export const ATTR_P = 0x80;
export const ATTR_DB = 0x4000;
export const ATTR_G = 0x8000;

// Lazy flag operations (r[R_FOP]).
export const FOP_NONE = 0; // all arithmetic flags are in r[R_EFLAGS]
export const FOP_ADD = 1;
export const FOP_ADC = 2; // add with carry-in 1
export const FOP_SUB = 3;
export const FOP_SBB = 4; // subtract with borrow-in 1
export const FOP_INC = 5; // CF from r[R_EFLAGS]
export const FOP_DEC = 6;
export const FOP_RESULT = 7; // ZF/SF/PF from the result, CF/AF/OF from r[R_EFLAGS]

// Software TLB entry bits (low 12 bits; the high 20 are the physical page address).
export const TLB_VALID = 1;
export const TLB_USER_READ = 2;
export const TLB_SUP_WRITE = 4;
export const TLB_USER_WRITE = 8;
/** Either write right: stripped from entries of pages holding code (CPU.markCodePage()). */
export const TLB_WRITE = TLB_SUP_WRITE | TLB_USER_WRITE;
export const TLB_IO = 16;
export const TLB_GLOBAL = 32;
/**
 * An entry filled with paging off and the A20 gate open: linear = physical for every address. The
 * accelerator translates code fetched through such an entry with direct physical accesses, and its
 * jump cache only runs that code through entries that have this bit (see KqemuEngine.lookup()).
 * Turning paging on or closing A20 flushes the TLB.
 */
export const TLB_UNPAGED = 64;
