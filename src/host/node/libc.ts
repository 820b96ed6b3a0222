// libc through koffi (npm), loaded once for the host modules that need a system call Node does not
// offer (ram-file.ts: mmap over the guest RAM; thread-priority.ts: setpriority per thread). Linux
// only; elsewhere, or without koffi, the reason why not.
import { createRequire } from "node:module";

export type Koffi = typeof import("koffi");
export type Libc = { koffi: Koffi; lib: ReturnType<Koffi["load"]> } | { why: string };

let cached: Libc | undefined;

export function libc(): Libc {
  if (cached === undefined) {
    if (process.platform !== "linux") cached = { why: `not on ${process.platform} hosts` };
    else
      try {
        const koffi = createRequire(import.meta.url)("koffi") as Koffi;
        cached = { koffi, lib: koffi.load("libc.so.6") };
      } catch (e) {
        cached = { why: `koffi/libc unavailable (${e instanceof Error ? e.message : String(e)})` };
      }
  }
  return cached;
}
