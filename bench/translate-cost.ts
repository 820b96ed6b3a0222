// Dev tool: what translating costs, apart from everything else. Boots the bench guest to /init in
// this process (-kernel-kqemu, as the CLI tunes V8), then translates every compiled kernel block within
// one page again, ROUNDS times (default 8), and prints the time per block and per guest instruction
// of each round (the first rounds include V8 warming the translator up). Nothing is compiled or
// installed: the translations are released. A before/after of a translator change is fairest as
// alternating rounds of one process (a switch on the Translator read here), this VM's speed drifting
// by up to 2x over minutes.
// Usage: ROUNDS=8 node --import tsx bench/translate-cost.ts
import { benchMachine, runToInit } from "./lib/dev-machine.ts";

const KERNEL_BASE = 0xc0000000;

interface EngineParts {
  blocks: Map<number, Map<number, { eip: number; slot: number; cross: number }>>;
  translator: {
    translate(
      lin: number,
      eip: number,
      cross: number,
      id: number,
      windows: boolean,
      unpaged: boolean,
    ): { func: { release(): void }; count: number } | null;
    blockAt: unknown;
  };
}

const m = await benchMachine();
const engine = m.kqemu as unknown as EngineParts;
await runToInit(m, () => {
  const eips: number[] = [];
  for (const page of engine.blocks.values())
    for (const b of page.values())
      if (b.eip !== -1 && b.eip >>> 0 >= KERNEL_BASE && b.slot >= 0 && b.cross === -1) eips.push(b.eip);
  const tr = engine.translator;
  // As after the boot: blocks no longer stop where others start.
  tr.blockAt = null;
  const rounds = Number(process.env.ROUNDS ?? 8);
  for (let round = 0; round < rounds; round++) {
    let blocks = 0;
    let insns = 0;
    const t0 = performance.now();
    for (const eip of eips) {
      try {
        m.cpu.tlbLookup(eip, false, false); // freed init code is unmapped by now
      } catch {
        continue;
      }
      const tb = tr.translate(eip, eip, -1, 0, true, false);
      if (tb === null) continue;
      blocks++;
      insns += tb.count;
      tb.func.release();
    }
    const ms = performance.now() - t0;
    console.log(
      `round ${round}: ${blocks} blocks, ${insns} instructions, ${ms.toFixed(0)} ms: ${((ms * 1e3) / blocks).toFixed(1)} µs a block, ${((ms * 1e6) / insns).toFixed(0)} ns an instruction`,
    );
  }
  process.exit(0);
});
