// The wasm writer's branch hints: the `metadata.code.branch_hint` custom section of the
// branch-hinting proposal, as V8 reads it (a section before the code section; per function, its
// index and (offset from the body's locals declaration, size 1, 0|1) triples). V8 ignores a
// malformed section without a word, so its layout is checked here against the code it describes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildBlockModule, Translator } from "../../src/accel/kqemu/translate.ts";
import * as W from "../../src/accel/kqemu/wasm-builder.ts";
import { flat32, hex, load, makeCpu } from "../cpu/helpers.ts";

interface Section {
  id: number;
  name: string;
  start: number; // payload start (after the name, for custom sections)
  end: number;
}

function u32(b: Uint8Array, at: { p: number }): number {
  let v = 0;
  let shift = 0;
  for (;;) {
    const x = b[at.p++];
    v |= (x & 0x7f) << shift;
    if ((x & 0x80) === 0) return v >>> 0;
    shift += 7;
  }
}

function sections(b: Uint8Array): Section[] {
  const out: Section[] = [];
  const at = { p: 8 };
  while (at.p < b.length) {
    const id = b[at.p++];
    const len = u32(b, at);
    const end = at.p + len;
    let name = "";
    if (id === 0) {
      const n = u32(b, at);
      name = String.fromCharCode(...b.subarray(at.p, at.p + n));
      at.p += n;
    }
    out.push({ id, name, start: at.p, end });
    at.p = end;
  }
  return out;
}

/** Each function body (from its locals declaration) in the code section. */
function bodies(b: Uint8Array, code: Section): Uint8Array[] {
  const at = { p: code.start };
  const n = u32(b, at);
  const out: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const len = u32(b, at);
    out.push(b.subarray(at.p, at.p + len));
    at.p += len;
  }
  return out;
}

/** The hints: function index → [offset, value] pairs. */
function hints(b: Uint8Array, s: Section): Map<number, number[][]> {
  const at = { p: s.start };
  const out = new Map<number, number[][]>();
  const nf = u32(b, at);
  for (let k = 0; k < nf; k++) {
    const fn = u32(b, at);
    const list: number[][] = [];
    const nh = u32(b, at);
    for (let h = 0; h < nh; h++) {
      const offset = u32(b, at);
      assert.equal(u32(b, at), 1, "hint size");
      list.push([offset, b[at.p++]]);
    }
    out.set(fn, list);
  }
  assert.equal(at.p, s.end, "section length");
  return out;
}

function check(bytes: Uint8Array, nImports: number): Map<number, number[][]> {
  const secs = sections(bytes);
  const hs = secs.findIndex((s) => s.id === 0 && s.name === "metadata.code.branch_hint");
  const cs = secs.findIndex((s) => s.id === 10);
  assert.ok(hs >= 0, "hint section present");
  assert.ok(hs < cs, "hint section before the code section");
  const body = bodies(bytes, secs[cs]);
  const all = hints(bytes, secs[hs]);
  let last = -1;
  for (const [fn, list] of all) {
    assert.ok(fn > last, "functions in increasing order");
    last = fn;
    let prev = -1;
    for (const [offset, value] of list) {
      assert.ok(offset > prev, "offsets in increasing order");
      prev = offset;
      const op = body[fn - nImports][offset];
      assert.ok(
        op === W.OP_IF || op === W.OP_BR_IF,
        `offset ${offset} is an if or br_if (0x${op.toString(16)})`,
      );
      assert.ok(value === 0 || value === 1);
    }
  }
  return all;
}

test("wasm builder: branch hints point at their if / br_if, also after prepend()", () => {
  const f = new W.FuncBuilder(1);
  f.local();
  f.local();
  f.get(0).hint(false).if_().const(1).op(W.OP_RETURN).op(W.OP_END);
  f.block().get(0).hint(true).brIf(0).op(W.OP_END);
  const p = new W.FuncBuilder(0);
  p.const(0).hint(true).if_().op(W.OP_END);
  f.prepend(p);
  f.const(7);
  const plain = new W.FuncBuilder(0);
  plain.const(3);
  const bytes = W.buildModule([], [plain, f], 1);
  const all = check(bytes, 0);
  assert.deepEqual([...all.keys()], [1], "only the hinted function is listed");
  assert.deepEqual(
    all.get(1)!.map((h) => h[1]),
    [1, 0, 1],
    "the prepended hint first, then the function's own in order",
  );
  // V8 compiles and runs it (the section changes no semantics).
  const mem = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem } });
  assert.equal((inst.exports.f1 as (x: number) => number)(0), 7);
  assert.equal((inst.exports.f1 as (x: number) => number)(5), 1);
});

test("kqemu translator: a block's TLB checks, helper exits and loop edge carry hints V8 can place", () => {
  const c = makeCpu();
  flat32(c, 0);
  // loop: mov eax,[ebx]; add [ecx],eax; dec edx; jnz loop; hlt — reads, a read-modify-write, a
  // back edge to the block's start.
  load(c, 0x1000, hex("8b03 0101 4a 75f9 f4"));
  const tb = new Translator(c).translate(0x1000, 0x1000);
  assert.ok(tb !== null);
  const bytes = buildBlockModule([tb.func], c.mem.memory.buffer.byteLength / 65536);
  const all = check(bytes, 0); // blocks call their helpers through the table: no function imports
  const list = all.get(0) ?? [];
  assert.ok(list.filter((h) => h[1] === 1).length >= 3, "TLB fast paths and the loop edge hinted likely");
});

/** The locals a function body declares (the sum of its (count, type) runs), and their types. */
function declaredLocals(body: Uint8Array): number[] {
  const at = { p: 0 };
  const types: number[] = [];
  const runs = u32(body, at);
  for (let k = 0; k < runs; k++) {
    const n = u32(body, at);
    const t = body[at.p++];
    for (let j = 0; j < n; j++) types.push(t);
  }
  return types;
}

test("wasm builder: locals are declared in the order asked, i32 and i64 mixed", () => {
  const f = new W.FuncBuilder(1);
  const a = f.local();
  const q = f.local64();
  const b = f.local();
  assert.deepEqual([a, q, b], [1, 2, 3]);
  // b = i32.wrap(i64.extend_u(param) * 3) + a(0)
  f.get(0).op(0xad).const64(3).op(0x7e).set(q);
  f.get(q).op(0xa7).set(b);
  f.get(b).get(a).op(W.OP_I32_ADD);
  const bytes = W.buildModule([], [f], 1);
  const code = sections(bytes).find((s) => s.id === 10)!;
  assert.deepEqual(declaredLocals(bodies(bytes, code)[0]), [W.I32, W.I64, W.I32]);
  const mem = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem } });
  assert.equal((inst.exports.f0 as (x: number) => number)(5), 15);
});

test("kqemu translator: a block declares only the locals it uses (Liftoff zeroes each at every call)", () => {
  const c = makeCpu();
  flat32(c, 0);
  load(c, 0x1000, hex("89d8 f4")); // mov eax,ebx; hlt
  const small = new Translator(c).translate(0x1000, 0x1000);
  load(c, 0x2000, hex("f7f1 f4")); // div ecx; hlt
  const div = new Translator(c).translate(0x2000, 0x2000);
  assert.ok(small !== null && div !== null);
  const bytes = buildBlockModule([small.func, div.func], c.mem.memory.buffer.byteLength / 65536);
  const [b0, b1] = bodies(bytes, sections(bytes).find((s) => s.id === 10)!);
  const l0 = declaredLocals(b0);
  assert.ok(l0.length <= 4, `MOV's block declares ${l0.length} locals`);
  assert.ok(!l0.includes(W.I64), "no i64 local without DIV");
  assert.equal(declaredLocals(b1).filter((t) => t === W.I64).length, 3, "DIV's dividend, divisor, quotient");
  new WebAssembly.Module(bytes); // and V8 accepts both
});

test("wasm builder: sizes patched in place are 5-byte LEB128 that read back, and V8 accepts them", () => {
  const b = new W.ByteBuf(1);
  const values = [0, 1, 127, 128, 0x3fff, 0x4000, 0x0fff_ffff, 0x1000_0000, 0xffff_ffff];
  const at = values.map(() => b.reserveU32());
  for (let k = 0; k < values.length; k++) b.patchU32(at[k], values[k]);
  assert.equal(b.len, 5 * values.length);
  const pos = { p: 0 };
  for (const v of values) {
    assert.equal(u32(b.view(), pos), v);
    assert.equal(pos.p % 5, 0, "each one takes exactly 5 bytes");
  }
  // insert() moves the tail up (the cross-page prologue is put in front of a block's code this way).
  const c = new W.ByteBuf(2);
  for (const x of [1, 2, 3]) c.byte(x);
  const o = new W.ByteBuf();
  o.byte(9);
  o.byte(8);
  c.insert(1, o);
  assert.deepEqual([...c.view()], [1, 9, 8, 2, 3]);
  // A module whose code section and bodies carry such sizes (every one buildModule writes), with
  // large bodies, compiles and runs.
  const funcs = [40, 3000].map((n) => {
    const f = new W.FuncBuilder(1);
    f.get(0);
    for (let k = 0; k < n; k++) f.const(1).op(W.OP_I32_ADD);
    return f;
  });
  const bytes = W.buildModule([], funcs, 1);
  const mem = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem } });
  assert.equal((inst.exports.f0 as (x: number) => number)(2), 42);
  assert.equal((inst.exports.f1 as (x: number) => number)(2), 3002);
});

test("wasm builder: a released builder's code buffer is reused, and a late write cannot reach it", () => {
  const a = new W.FuncBuilder(0);
  a.const(1);
  const buf = a.code.bytes;
  a.release();
  const b = new W.FuncBuilder(0);
  assert.equal(b.code.bytes, buf, "the next builder takes the released buffer");
  b.const(7);
  // A write through the released builder gets a buffer of its own: b's code is untouched.
  a.const(3);
  assert.notEqual(a.code.bytes, buf);
  const bytes = W.buildModule([], [b], 1);
  const mem = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem } });
  assert.equal((inst.exports.f0 as () => number)(), 7);
});

test("wasm builder: a module's buffer handed back is reused by the next module, which is whole and runs", () => {
  const mem = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const run = (bytes: Uint8Array<ArrayBuffer>, k: number, x: number) =>
    (
      new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem } }).exports[`f${k}`] as (
        x: number,
      ) => number
    )(x);
  // Functions made of hinted ifs: a branch hint section as large as can be per byte of code (the
  // module's size is reckoned before it is written).
  const hinted = (n: number, names: boolean) => {
    const funcs = [0, 1, 2].map((j) => {
      const f = new W.FuncBuilder(1);
      for (let k = 0; k < n; k++)
        f.get(0)
          .hint(k % 2 === 0)
          .if_()
          .op(W.OP_END);
      f.get(0).const(j).op(W.OP_I32_ADD);
      return f;
    });
    return W.buildModule([], funcs, 1, false, names ? ["a", "b", "c"] : undefined);
  };
  const first = hinted(400, true);
  check(first, 0);
  assert.equal(run(first, 2, 40), 42);
  const buffer = first.buffer;
  W.recycleModuleBuffer(buffer);
  // A smaller module goes into the same buffer, over the first one's bytes.
  const second = hinted(50, false);
  assert.equal(second.buffer, buffer, "the recycled buffer");
  check(second, 0);
  assert.ok(!sections(second).some((sec) => sec.name === "name"), "no stale name section");
  assert.equal(run(second, 1, 6), 7);
  // A buffer too small for the next module is left in the pool.
  W.recycleModuleBuffer(second.buffer);
  const third = hinted(2000, true);
  assert.notEqual(third.buffer, buffer);
  assert.equal(run(third, 0, 5), 5);
  assert.equal(hinted(10, true).buffer, buffer, "still there for a module it fits");
  // A transferred (detached) buffer is not kept.
  const gone = hinted(10, false);
  structuredClone(gone.buffer, { transfer: [gone.buffer] });
  W.recycleModuleBuffer(gone.buffer);
  assert.ok(hinted(10, false).buffer.byteLength > 0);
});

// The emitters write LEB128 immediates straight into the code buffer (with one-byte fast paths):
// their bytes must be those of the plain encoding, for every operand size, sign and buffer growth.
test("FuncBuilder's emitters encode operands as plain LEB128", () => {
  const uleb = (v: number): number[] => {
    const out: number[] = [];
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      out.push(b);
    } while (v !== 0);
    return out;
  };
  const sleb = (v: number): number[] => {
    const out: number[] = [];
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return [...out, b];
      out.push(b | 0x80);
    }
  };
  const values: number[] = [];
  for (let k = 0; k <= 32; k++)
    for (const d of [-1, 0, 1]) values.push(2 ** k + d, -(2 ** k) + d, (2 ** k + d) | 0, (2 ** k + d) >>> 0);
  values.push(0x7fffffff, -0x80000000, 0xffffffff, 0xdeadbeef, -12345678, 63, 64, -64, -65, 127, 128);
  const f = new W.FuncBuilder(0);
  const want: number[] = [];
  // Enough operations that the code buffer grows past its pooled 4 KB several times.
  for (let round = 0; round < 4; round++)
    for (const v of values) {
      const u = v >>> 0;
      f.const(v);
      want.push(W.OP_I32_CONST, ...sleb(v));
      f.get(u).set(u).tee(u);
      want.push(W.OP_LOCAL_GET, ...uleb(u), W.OP_LOCAL_SET, ...uleb(u), W.OP_LOCAL_TEE, ...uleb(u));
      f.mem(W.OP_I32_LOAD, u, round);
      want.push(W.OP_I32_LOAD, ...uleb(round), ...uleb(u));
      f.br(u).brIf(u).call(u).callSlot(v, u);
      want.push(W.OP_BR, ...uleb(u), W.OP_BR_IF, ...uleb(u), W.OP_CALL, ...uleb(u));
      want.push(W.OP_I32_CONST, ...sleb(v), W.OP_CALL_INDIRECT, ...uleb(u), 0);
      f.block().loop().if_().ifI32().op(W.OP_END);
      want.push(W.OP_BLOCK, 0x40, W.OP_LOOP, 0x40, W.OP_IF, 0x40, W.OP_IF, W.I32, W.OP_END);
    }
  assert.ok(want.length > 4 * 4096);
  assert.deepEqual([...f.code.view()], want);
  f.release();
});
