// Monitor expressions: numbers (hex with 0x, decimal), $registers, + - * / & | ^ ~ and parentheses.
import type { CPU } from "../cpu/cpu.ts";
import { R_CR0, R_CR2, R_CR3, R_CR4, R_EIP, R_SEL } from "../cpu/state.ts";

export interface ExprContext {
  cpu: CPU;
}

const REG32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const REG16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const REG8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
const SEGS = ["es", "cs", "ss", "ds", "fs", "gs"];

function register(name: string, c: CPU): bigint {
  const n = name.toLowerCase();
  let k = REG32.indexOf(n);
  if (k >= 0) return BigInt(c.r[k] >>> 0);
  k = REG16.indexOf(n);
  if (k >= 0) return BigInt(c.getReg16(k));
  k = REG8.indexOf(n);
  if (k >= 0) return BigInt(c.getReg8(k));
  k = SEGS.indexOf(n);
  if (k >= 0) return BigInt(c.r[R_SEL + k] & 0xffff);
  switch (n) {
    case "eip":
    case "pc":
      return BigInt(c.r[R_EIP] >>> 0);
    case "eflags":
      return BigInt(c.getEflags() >>> 0);
    case "cr0":
      return BigInt(c.r[R_CR0] >>> 0);
    case "cr2":
      return BigInt(c.r[R_CR2] >>> 0);
    case "cr3":
      return BigInt(c.r[R_CR3] >>> 0);
    case "cr4":
      return BigInt(c.r[R_CR4] >>> 0);
  }
  throw new Error(`unknown register: '$${name}'`);
}

/** Evaluate a monitor expression; throws Error with a QEMU-like message on bad input. */
export function evalExpr(text: string, ctx: ExprContext): bigint {
  const tokens = text.match(/0x[0-9a-fA-F]+|\d+|\$\w+|[-+*/&|^~()%]|\S/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];
  const primary = (): bigint => {
    const t = next();
    if (t === undefined) throw new Error("unexpected end of expression");
    if (t === "(") {
      const v = binary(0);
      if (next() !== ")") throw new Error("')' expected");
      return v;
    }
    if (t === "-") return -primary();
    if (t === "+") return primary();
    if (t === "~") return ~primary();
    if (t.startsWith("$")) return register(t.slice(1), ctx.cpu);
    if (/^(0x[0-9a-fA-F]+|\d+)$/.test(t)) return BigInt(t);
    throw new Error(`invalid char '${t}' in expression`);
  };
  const PREC: Record<string, number> = { "|": 1, "^": 2, "&": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5 };
  const binary = (min: number): bigint => {
    let left = primary();
    for (;;) {
      const op = peek();
      const p = op === undefined ? -1 : (PREC[op] ?? -1);
      if (p < min || p < 0) return left;
      next();
      const right = binary(p + 1);
      switch (op) {
        case "+":
          left += right;
          break;
        case "-":
          left -= right;
          break;
        case "*":
          left *= right;
          break;
        case "/":
          if (right === 0n) throw new Error("division by zero");
          left /= right;
          break;
        case "%":
          if (right === 0n) throw new Error("division by zero");
          left %= right;
          break;
        case "&":
          left &= right;
          break;
        case "|":
          left |= right;
          break;
        default:
          left ^= right;
      }
    }
  };
  const v = binary(0);
  if (pos < tokens.length) throw new Error(`invalid char '${tokens[pos]}' in expression`);
  return v;
}
