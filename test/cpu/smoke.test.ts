import assert from "node:assert/strict";
import { test } from "node:test";
import { EXIT_EXCEPTION, EXIT_HLT } from "../../src/cpu/cpu.ts";
import { EAX, EBX, ECX, EDX, ESP, R_EIP } from "../../src/cpu/state.ts";
import { flat32, hex, load, makeCpu, real16 } from "./helpers.ts";

test("32-bit flat: arithmetic loop and flags", () => {
  const c = makeCpu();
  flat32(c, 0);
  // mov ecx,10; xor eax,eax; L: add eax,ecx; loop L; hlt
  load(c, 0x1000, hex("b90a000000 31c0 01c8 e2fc f4"));
  c.r[R_EIP] = 0x1000;
  c.r[ESP] = 0x8000;
  const exit = c.run(1000);
  assert.equal(exit, EXIT_HLT);
  assert.equal(c.r[EAX], 55);
  assert.equal(c.r[ECX], 0);
});

test("32-bit: mul/div and push/pop", () => {
  const c = makeCpu();
  flat32(c, 0);
  // mov eax,0x12345678; mov ebx,0x100; mul ebx; push eax; pop ecx; mov ebx,0x1000; div ebx; hlt
  load(c, 0x1000, hex("b878563412 bb00010000 f7e3 50 59 bb00100000 f7f3 f4"));
  c.r[R_EIP] = 0x1000;
  c.r[ESP] = 0x8000;
  c.run(100);
  const prod = 0x12345678n * 0x100n;
  assert.equal(c.r[ECX] >>> 0, Number(prod & 0xffffffffn));
  assert.equal(c.r[EAX] >>> 0, Number((prod & 0xffffffffffffn) / 0x1000n));
  assert.equal(c.r[EDX] >>> 0, Number(prod % 0x1000n));
  assert.equal(c.r[EBX], 0x1000);
});

test("divide by zero traps as #DE with EIP at the instruction", () => {
  const c = makeCpu();
  flat32(c, 3);
  c.trapExceptions = true;
  load(c, 0x1000, hex("31db f7f3"));
  c.r[R_EIP] = 0x1000;
  assert.equal(c.run(100), EXIT_EXCEPTION);
  assert.equal(c.excVector, 0);
  assert.equal(c.r[R_EIP], 0x1002);
});

test("real mode: rep movsb and int via IVT", () => {
  const c = makeCpu();
  real16(c, 0x7c00);
  // IVT entry 0x21 -> 0000:0x9000 ; handler: mov ax,0x1234; iret
  c.ram[0x21 * 4] = 0x00;
  c.ram[0x21 * 4 + 1] = 0x90;
  load(c, 0x9000, hex("b83412 cf"));
  // mov si,0x100; mov di,0x200; mov cx,4; cld; rep movsb; int 0x21; hlt
  load(c, 0x7c00, hex("be0001 bf0002 b90400 fc f3a4 cd21 f4"));
  load(c, 0x100, [1, 2, 3, 4]);
  c.r[ESP] = 0x7000;
  assert.equal(c.run(1000), EXIT_HLT);
  assert.deepEqual([...c.ram.subarray(0x200, 0x204)], [1, 2, 3, 4]);
  assert.equal(c.r[EAX] & 0xffff, 0x1234);
  assert.equal(c.r[ESP], 0x7000);
});
