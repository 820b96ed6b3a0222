// A small WebAssembly binary writer: just what the translator emits (one module, imported memory,
// imported helper functions, i32 code). Opcodes from the WebAssembly core specification, 5.4.

export const I32 = 0x7f;
export const I64 = 0x7e;

// Control
export const OP_UNREACHABLE = 0x00;
export const OP_BLOCK = 0x02;
export const OP_LOOP = 0x03;
export const OP_IF = 0x04;
export const OP_ELSE = 0x05;
export const OP_END = 0x0b;
export const OP_BR = 0x0c;
export const OP_BR_IF = 0x0d;
export const OP_RETURN = 0x0f;
export const OP_CALL = 0x10;
export const OP_CALL_INDIRECT = 0x11;
export const OP_DROP = 0x1a;
export const OP_SELECT = 0x1b;
// Variables
export const OP_LOCAL_GET = 0x20;
export const OP_LOCAL_SET = 0x21;
export const OP_LOCAL_TEE = 0x22;
// Memory
export const OP_I32_LOAD = 0x28;
export const OP_I32_LOAD8_U = 0x2d;
export const OP_I32_LOAD16_U = 0x2f;
export const OP_I32_STORE = 0x36;
export const OP_I32_STORE8 = 0x3a;
export const OP_I32_STORE16 = 0x3b;
// Numeric
export const OP_I32_CONST = 0x41;
export const OP_I64_CONST = 0x42;
export const OP_I32_EQZ = 0x45;
export const OP_I32_EQ = 0x46;
export const OP_I32_NE = 0x47;
export const OP_I32_LT_S = 0x48;
export const OP_I32_LT_U = 0x49;
export const OP_I32_GT_S = 0x4a;
export const OP_I32_GT_U = 0x4b;
export const OP_I32_LE_S = 0x4c;
export const OP_I32_LE_U = 0x4d;
export const OP_I32_GE_S = 0x4e;
export const OP_I32_GE_U = 0x4f;
export const OP_I32_ADD = 0x6a;
export const OP_I32_SUB = 0x6b;
export const OP_I32_MUL = 0x6c;
export const OP_I32_AND = 0x71;
export const OP_I32_OR = 0x72;
export const OP_I32_XOR = 0x73;
export const OP_I32_SHL = 0x74;
export const OP_I32_SHR_S = 0x75;
export const OP_I32_SHR_U = 0x76;
export const OP_I32_ROTL = 0x77;
export const OP_I32_ROTR = 0x78;
export const OP_I32_CLZ = 0x67;
export const OP_I32_CTZ = 0x68;
export const OP_I32_EXTEND8_S = 0xc0;
export const OP_I32_EXTEND16_S = 0xc1;

/**
 * Code buffers of released function builders (FuncBuilder.release()), reused by the next ones: the
 * boot translates ~12,000 blocks, and allocating a fresh 4 KB typed array for each cost V8 ~5 µs
 * (profiled: 58 ms per boot in ByteBuf's constructor, plus the growth of the larger ones).
 */
const codePool: Uint8Array[] = [];
/** The code of a released builder: empty (a write after release() gets a buffer of its own). */
const RELEASED = new Uint8Array(0);
const CODE_POOL_MAX = 256;

/**
 * Buffers of modules compiled and done with (recycleModuleBuffer()), reused by the next
 * buildModule(): the ones the worker compiler hands back, and those compiled here.
 */
const modulePool: Uint8Array<ArrayBuffer>[] = [];
const MODULE_POOL_MAX = 8;

/** A buffer of at least `size` bytes for a module: a recycled one when one is large enough. */
function takeModuleBuffer(size: number): Uint8Array<ArrayBuffer> {
  for (let k = modulePool.length - 1; k >= 0; k--) {
    const b = modulePool[k];
    if (b.length >= size) {
      modulePool[k] = modulePool[modulePool.length - 1];
      modulePool.pop();
      return b;
    }
  }
  return new Uint8Array(size);
}

/**
 * Hand back the buffer a module was built in (buildModule()'s result's `.buffer`) once nothing reads
 * it: V8 has its own copy of a compiled module's bytes. Kept up to MODULE_POOL_MAX, larger first.
 */
export function recycleModuleBuffer(buffer: ArrayBuffer): void {
  if (buffer.byteLength === 0) return; // detached (transferred)
  const b = new Uint8Array(buffer);
  if (modulePool.length < MODULE_POOL_MAX) modulePool.push(b);
  else {
    // Keep the larger ones: a small buffer is cheap to allocate anew, a large one's pages are not.
    let k = 0;
    for (let j = 1; j < modulePool.length; j++) if (modulePool[j].length < modulePool[k].length) k = j;
    if (modulePool[k].length < b.length) modulePool[k] = b;
  }
}

/** A growable byte buffer with LEB128 helpers. */
export class ByteBuf {
  bytes: Uint8Array;
  len = 0;

  /**
   * `capacity`: the initial size (a block's function body is ~3 KB: FuncBuilder starts at 4 KB);
   * `pooled`: take a released code buffer when there is one.
   */
  constructor(capacity = 256, pooled = false) {
    this.bytes = (pooled ? codePool.pop() : undefined) ?? new Uint8Array(capacity);
  }

  byte(b: number): void {
    if (this.len === this.bytes.length) this.ensure(1);
    this.bytes[this.len++] = b;
  }

  u32(v: number): void {
    if (this.len + 5 > this.bytes.length) this.ensure(5);
    this.len = putU32(this.bytes, this.len, v);
  }

  s32(v: number): void {
    if (this.len + 5 > this.bytes.length) this.ensure(5);
    this.len = putS32(this.bytes, this.len, v);
  }

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.len + n;
    if (need <= this.bytes.length) return;
    let size = Math.max(256, this.bytes.length * 2);
    while (size < need) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.bytes.subarray(0, this.len));
    this.bytes = b;
  }

  append(o: ByteBuf): void {
    this.ensure(o.len);
    this.bytes.set(o.bytes.subarray(0, o.len), this.len);
    this.len += o.len;
  }

  /**
   * Room for a u32 written later (patchU32()): LEB128 padded to 5 bytes, which wasm accepts, so a
   * section or function body goes straight into the module instead of being copied in after its
   * size is known. Returns its offset.
   */
  reserveU32(): number {
    this.ensure(5);
    const at = this.len;
    this.len += 5;
    return at;
  }

  patchU32(at: number, v: number): void {
    const b = this.bytes;
    for (let k = 0; k < 4; k++) b[at + k] = ((v >>> (7 * k)) & 0x7f) | 0x80;
    b[at + 4] = (v >>> 28) & 0x0f;
  }

  /** Insert `o`'s bytes at offset `at`. */
  insert(at: number, o: ByteBuf): void {
    this.ensure(o.len);
    this.bytes.copyWithin(at + o.len, at, this.len);
    this.bytes.set(o.bytes.subarray(0, o.len), at);
    this.len += o.len;
  }

  view(): Uint8Array {
    return this.bytes.subarray(0, this.len);
  }

  reset(): void {
    this.len = 0;
  }
}

/**
 * Function body emitter. Locals are declared in the order they are asked for, so a function
 * declares only those it uses: V8's baseline compiler (Liftoff) zeroes every declared local at
 * each call (measured: a call with 40 i32 locals ≈25 ns, with 2 ≈4 ns).
 */
export class FuncBuilder {
  readonly code = new ByteBuf(4096, true);
  /** Types of the declared locals, in index order after the parameters. */
  private readonly localTypes: number[] = [];
  /**
   * Branch hints (the branch-hinting proposal's `metadata.code.branch_hint` section): pairs of the
   * code offset of an `if`/`br_if` and 1 when its condition is likely true, 0 when likely false.
   * V8's optimizing tier lays out the unlikely side as deferred code, after the hot path.
   */
  readonly hints: number[] = [];

  /** `nResults`: 1 (an i32) or 0. */
  constructor(
    readonly nParams: number,
    readonly nResults = 1,
  ) {}

  /** Give the code buffer back for a later builder (once its module is assembled or it is dropped). */
  release(): void {
    const b = this.code.bytes;
    this.code.bytes = RELEASED;
    this.code.len = 0;
    if (b !== RELEASED && codePool.length < CODE_POOL_MAX) codePool.push(b);
  }

  /** A new i32 local. */
  local(): number {
    this.localTypes.push(I32);
    return this.nParams + this.localTypes.length - 1;
  }

  /** A new i64 local. */
  local64(): number {
    this.localTypes.push(I64);
    return this.nParams + this.localTypes.length - 1;
  }

  /** i64.const of a safe integer (signed LEB128). */
  const64(v: number): this {
    this.code.byte(OP_I64_CONST);
    let x = BigInt(v);
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) {
        this.code.byte(b);
        return this;
      }
      this.code.byte(b | 0x80);
    }
  }

  // The emitters below write an instruction straight into the code buffer after one room check:
  // the translator emits ~19 MB of wasm per boot, and byte-at-a-time writes through ByteBuf.byte()
  // (a length check per byte) were a third of the translator's own time in a profile without
  // inlining (byte() alone 123 of 630 ms).
  op(o: number): this {
    this.code.byte(o);
    return this;
  }
  const(v: number): this {
    const c = this.code;
    if (c.len + 6 > c.bytes.length) c.ensure(6);
    c.bytes[c.len] = OP_I32_CONST;
    c.len = putS32(c.bytes, c.len + 1, v);
    return this;
  }
  get(l: number): this {
    return this.opU32(OP_LOCAL_GET, l);
  }
  set(l: number): this {
    return this.opU32(OP_LOCAL_SET, l);
  }
  tee(l: number): this {
    return this.opU32(OP_LOCAL_TEE, l);
  }
  /** Memory access with an alignment hint and a constant offset. */
  mem(o: number, offset: number, align = 0): this {
    const c = this.code;
    if (c.len + 11 > c.bytes.length) c.ensure(11);
    const b = c.bytes;
    let n = c.len;
    b[n++] = o;
    n = putU32(b, n, align);
    c.len = putU32(b, n, offset);
    return this;
  }
  /** Two bytes: an opcode and its block type. */
  private op2(o: number, t: number): this {
    const c = this.code;
    if (c.len + 2 > c.bytes.length) c.ensure(2);
    c.bytes[c.len] = o;
    c.bytes[c.len + 1] = t;
    c.len += 2;
    return this;
  }
  /** An opcode and its unsigned LEB128 immediate (local index, branch depth, function index). */
  private opU32(o: number, v: number): this {
    const c = this.code;
    if (c.len + 6 > c.bytes.length) c.ensure(6);
    c.bytes[c.len] = o;
    c.len = putU32(c.bytes, c.len + 1, v);
    return this;
  }
  /** memory.copy (bulk memory): [dst, src, len] on the stack. */
  memCopy(): this {
    this.code.byte(0xfc);
    this.code.u32(10);
    this.code.byte(0);
    this.code.byte(0);
    return this;
  }
  /** memory.fill (bulk memory): [dst, byte value, len] on the stack. */
  memFill(): this {
    this.code.byte(0xfc);
    this.code.u32(11);
    this.code.byte(0);
    return this;
  }
  call(fn: number): this {
    return this.opU32(OP_CALL, fn);
  }
  /** Call the function in `slot` of the module's table, of type `typeIndex` (see typeIndices()). */
  callSlot(slot: number, typeIndex: number): this {
    this.const(slot).opU32(OP_CALL_INDIRECT, typeIndex);
    return this.op(0); // table 0
  }
  block(): this {
    return this.op2(OP_BLOCK, 0x40);
  }
  loop(): this {
    return this.op2(OP_LOOP, 0x40);
  }
  if_(): this {
    return this.op2(OP_IF, 0x40);
  }
  ifI32(): this {
    return this.op2(OP_IF, I32);
  }
  /** The next instruction, an `if` or `br_if`, is likely taken (`likely`) or likely not. */
  hint(likely: boolean): this {
    this.hints.push(this.code.len, likely ? 1 : 0);
    return this;
  }
  /** Put `p`'s code (and its hints) before this function's code. */
  prepend(p: FuncBuilder): void {
    const n = p.code.len;
    for (let k = 0; k < this.hints.length; k += 2) this.hints[k] += n;
    this.hints.unshift(...p.hints);
    this.code.insert(0, p.code);
  }
  br(depth: number): this {
    return this.opU32(OP_BR, depth);
  }
  brIf(depth: number): this {
    return this.opU32(OP_BR_IF, depth);
  }

  /** The locals declaration: runs of one type, as (count, type) pairs. */
  private localRuns(): number[] {
    const runs: number[] = [];
    for (const t of this.localTypes)
      if (runs.length > 0 && runs[runs.length - 1] === t) runs[runs.length - 2]++;
      else runs.push(1, t);
    return runs;
  }

  /** Bytes of the locals declaration. */
  private headerLen(runs: number[]): number {
    let n = leb128Len(runs.length / 2);
    for (let k = 0; k < runs.length; k += 2) n += leb128Len(runs[k]) + 1;
    return n;
  }

  /**
   * Push the branch hints onto `hintsAt` as (offset, likely) pairs, offsets counted from the body's
   * start (the locals declaration), as the hint section wants them.
   */
  bodyHints(hintsAt: number[]): void {
    const at = this.headerLen(this.localRuns());
    for (let k = 0; k < this.hints.length; k += 2) hintsAt.push(this.hints[k] + at, this.hints[k + 1]);
  }

  /** Write the function's entry of the code section into `dst`: body size, locals declaration, code, end. */
  writeBody(dst: ByteBuf): void {
    const runs = this.localRuns();
    const size = dst.reserveU32();
    const start = dst.len;
    dst.u32(runs.length / 2);
    for (let k = 0; k < runs.length; k += 2) {
      dst.u32(runs[k]);
      dst.byte(runs[k + 1]);
    }
    dst.append(this.code);
    dst.byte(OP_END);
    dst.patchU32(size, dst.len - start);
  }
}

/** Write `v` as unsigned LEB128 at `b[n]` (room, up to 5 bytes, checked by the caller); returns the end. */
function putU32(b: Uint8Array, n: number, v: number): number {
  v >>>= 0;
  while (v >= 0x80) {
    b[n++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  b[n++] = v;
  return n;
}

/** Write `v` as signed LEB128 at `b[n]` (room, up to 5 bytes, checked by the caller); returns the end. */
function putS32(b: Uint8Array, n: number, v: number): number {
  v |= 0;
  for (;;) {
    const x = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (x & 0x40) === 0) || (v === -1 && (x & 0x40) !== 0)) {
      b[n++] = x;
      return n;
    }
    b[n++] = x | 0x80;
  }
}

/** Bytes of `v` (unsigned) in LEB128. */
function leb128Len(v: number): number {
  let n = 1;
  for (v >>>= 7; v !== 0; v >>>= 7) n++;
  return n;
}

export interface ImportFunc {
  name: string;
  params: number;
  results: number;
}

/**
 * The type indices buildModule() gives the signatures of `sigs` when passed as its `slotSigs`
 * (i32 params, 0 or 1 i32 result): type 0 is `() -> i32`, then each new signature in order.
 */
export function typeIndices(sigs: readonly ImportFunc[]): number[] {
  const keys = ["0:1"];
  return sigs.map((f) => sigIndex(keys, f.params, f.results));
}

/** Index of the signature (params, results) in `keys` ("params:results"), added when new. */
function sigIndex(keys: string[], params: number, results: number): number {
  const key = `${params}:${results}`;
  const k = keys.indexOf(key);
  return k >= 0 ? k : keys.push(key) - 1;
}

/**
 * Assemble a module: imports `env.mem` (the shared memory), helper functions and, with `table`,
 * `env.tbl` (a funcref table for call_indirect: blocks of type 0, `() -> i32`, and functions of
 * the `slotSigs` signatures); defines `funcs` (each `(i32 × nParams) -> i32`, or no result),
 * exports them as "f0", "f1", ...
 */
export function buildModule(
  imports: ImportFunc[],
  funcs: FuncBuilder[],
  memPages: number,
  table = false,
  names?: string[],
  slotSigs: readonly ImportFunc[] = [],
): Uint8Array<ArrayBuffer> {
  // Sized for the whole module at once, every section written in place (its size patched in after):
  // the code is most of it; per function its body's header, export, branch hints (up to 7 bytes
  // each) and name. A module of the boot is ~38 KB: with a fresh buffer for each, the sections
  // copied in and the copies of a guess that fell short, building a boot's ~430 modules took
  // 90-111 ms, in a recycled buffer written in place 63-80 ms.
  let size = 1024;
  for (const f of funcs) size += f.code.len + 96 + 4 * f.hints.length;
  const out = new ByteBuf(0);
  out.bytes = takeModuleBuffer(size);
  out.byte(0x00);
  out.byte(0x61);
  out.byte(0x73);
  out.byte(0x6d);
  out.byte(1);
  out.byte(0);
  out.byte(0);
  out.byte(0);
  // Types: one per distinct (params, results). Type 0 is the blocks' () -> i32, the one the
  // dispatcher's call_indirect uses; then the signatures of the functions the code calls through
  // the table, numbered as typeIndices() numbers them; then those of imports and functions.
  const sigs = ["0:1"];
  for (const f of slotSigs) sigIndex(sigs, f.params, f.results);
  const sigOf = (p: number, r: number): number => sigIndex(sigs, p, r);
  const importSig = imports.map((f) => sigOf(f.params, f.results));
  const funcSig = funcs.map((f) => sigOf(f.nParams, f.nResults));
  // A section: its id, then its content's size, patched in by end().
  let sizeAt = 0;
  const begin = (id: number) => {
    out.byte(id);
    sizeAt = out.reserveU32();
  };
  const end = () => out.patchU32(sizeAt, out.len - sizeAt - 5);
  const name = (s: string) => {
    out.u32(s.length);
    for (let k = 0; k < s.length; k++) out.byte(s.charCodeAt(k));
  };
  begin(1);
  out.u32(sigs.length);
  for (const s of sigs) {
    const [p, r] = s.split(":").map(Number);
    out.byte(0x60);
    out.u32(p);
    for (let k = 0; k < p; k++) out.byte(I32);
    out.u32(r);
    for (let k = 0; k < r; k++) out.byte(I32);
  }
  end();
  begin(2);
  out.u32(imports.length + 1 + (table ? 1 : 0));
  name("env");
  name("mem");
  out.byte(0x02);
  out.byte(0x01); // limits with max
  out.u32(memPages);
  out.u32(memPages);
  if (table) {
    name("env");
    name("tbl");
    out.byte(0x01);
    out.byte(0x70); // funcref
    out.byte(0x00); // limits without max
    out.u32(0);
  }
  imports.forEach((f, k) => {
    name("env");
    name(f.name);
    out.byte(0x00);
    out.u32(importSig[k]);
  });
  end();
  begin(3);
  out.u32(funcs.length);
  for (const t of funcSig) out.u32(t);
  end();
  begin(7);
  out.u32(funcs.length);
  funcs.forEach((_f, k) => {
    name(`f${k}`);
    out.byte(0x00);
    out.u32(imports.length + k);
  });
  end();
  // Branch hints, before the code section as the proposal requires (engines without it ignore the
  // custom section).
  let nHinted = 0;
  for (const f of funcs) if (f.hints.length > 0) nHinted++;
  if (nHinted > 0) {
    begin(0);
    name("metadata.code.branch_hint");
    out.u32(nHinted);
    const hints: number[] = [];
    funcs.forEach((f, k) => {
      if (f.hints.length === 0) return;
      hints.length = 0;
      f.bodyHints(hints);
      out.u32(imports.length + k);
      out.u32(hints.length / 2);
      for (let h = 0; h < hints.length; h += 2) {
        out.u32(hints[h]);
        out.u32(1); // the hint's size in bytes
        out.byte(hints[h + 1]);
      }
    });
    end();
  }
  begin(10);
  out.u32(funcs.length);
  for (const f of funcs) f.writeBody(out);
  end();
  if (names !== undefined) {
    // The "name" custom section (function names): CPU profiles and stack traces then show which
    // guest block a wasm function is, instead of wasm-function[N].
    begin(0);
    name("name");
    out.byte(1); // function names
    const sub = out.reserveU32();
    out.u32(names.length);
    names.forEach((s, k) => {
      out.u32(imports.length + k);
      name(s);
    });
    out.patchU32(sub, out.len - sub - 5);
    end();
  }
  return out.bytes.subarray(0, out.len) as Uint8Array<ArrayBuffer>;
}
