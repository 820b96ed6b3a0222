// 32-bit paging with 4 KiB and 4 MiB (PSE) pages and global pages (SDM Vol. 3A, 4.3 and 4.6).
// The walk fills the software TLB with the permissions the access needs; dirty bits are set on
// the first write, so write permission is installed in the TLB only once the page is dirty.
import type { CPU } from "./cpu.ts";
import {
  CR0_PG,
  CR0_WP,
  CR4_PGE,
  CR4_PSE,
  EXC_PF,
  R_A20_MASK,
  R_CR0,
  R_CR2,
  R_CR3,
  R_CR4,
  TLB_GLOBAL,
  TLB_SUP_WRITE,
  TLB_UNPAGED,
  TLB_USER_READ,
  TLB_USER_WRITE,
  TLB_VALID,
} from "./state.ts";

const PTE_P = 1;
const PTE_W = 2;
const PTE_U = 4;
const PTE_A = 0x20;
const PTE_D = 0x40;
const PTE_PS = 0x80;
const PTE_G = 0x100;

const ALL = TLB_VALID | TLB_USER_READ | TLB_SUP_WRITE | TLB_USER_WRITE;

/** Translate `lin`, fill the TLB, return the entry; raises #PF with the SDM's error code. */
export function translate(c: CPU, lin: number, write: boolean, user: boolean): number {
  const r = c.r;
  const cr0 = r[R_CR0];
  if ((cr0 & CR0_PG) === 0)
    return c.fillTlb(lin, lin & ~0xfff, r[R_A20_MASK] === -1 ? ALL | TLB_UNPAGED : ALL);

  const pdeAddr = (r[R_CR3] & ~0xfff) | ((lin >>> 22) << 2);
  const pde = c.physRead32(pdeAddr);
  if ((pde & PTE_P) === 0) return pageFault(c, lin, 0, write, user);
  const cr4 = r[R_CR4];
  let pte: number;
  let pteAddr: number;
  let phys: number;
  let rw: number;
  let us: number;
  let global: number;
  if ((pde & PTE_PS) !== 0 && (cr4 & CR4_PSE) !== 0) {
    // 4 MiB page: the PDE is the leaf.
    pte = pde;
    pteAddr = pdeAddr;
    phys = (pde & 0xffc00000) | (lin & 0x003ff000);
    rw = pde & PTE_W;
    us = pde & PTE_U;
    global = pde & PTE_G;
  } else {
    pteAddr = (pde & ~0xfff) | (((lin >>> 12) & 0x3ff) << 2);
    pte = c.physRead32(pteAddr);
    if ((pte & PTE_P) === 0) return pageFault(c, lin, 0, write, user);
    phys = pte & ~0xfff;
    // Effective rights are the AND of both levels (SDM Vol. 3A, 4.6.1).
    rw = pde & pte & PTE_W;
    us = pde & pte & PTE_U;
    global = pte & PTE_G;
    if ((pde & PTE_A) === 0) c.physWrite32(pdeAddr, pde | PTE_A);
  }
  const wp = (cr0 & CR0_WP) !== 0;
  if (user) {
    if (us === 0 || (write && rw === 0)) return pageFault(c, lin, 1, write, user);
  } else if (write && rw === 0 && wp) return pageFault(c, lin, 1, write, user);

  // Accessed and dirty bits (locked updates on hardware).
  const want = write ? PTE_A | PTE_D : PTE_A;
  if ((pte & want) !== want) c.physWrite32(pteAddr, pte | want);

  let perms = TLB_VALID;
  if (us !== 0) perms |= TLB_USER_READ;
  const dirty = write || (pte & PTE_D) !== 0;
  if (dirty) {
    if (rw !== 0 || !wp) perms |= TLB_SUP_WRITE;
    if (rw !== 0 && us !== 0) perms |= TLB_USER_WRITE;
  }
  if (global !== 0 && (cr4 & CR4_PGE) !== 0) perms |= TLB_GLOBAL;
  return c.fillTlb(lin, phys, perms);
}

function pageFault(c: CPU, lin: number, present: number, write: boolean, user: boolean): never {
  c.r[R_CR2] = lin;
  // Drop any stale entry so a retry walks again.
  c.invlpg(lin);
  return c.raise(EXC_PF, present | (write ? 2 : 0) | (user ? 4 : 0));
}
