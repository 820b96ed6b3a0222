// The benchmark guest: the default Debian guest's kernel and initramfs layout, plus the
// freestanding i386 programs of bench/guest/ and a bench-mode /init. Built into
// ${XDG_CACHE_HOME:-~/.cache}/tsqemu/bench/ (never committed).
//
// Kernel command line: `console=ttyS0 tsqemu.bench=WORKLOAD tsqemu.units=U tsqemu.runs=R
// tsqemu.syscalls=S tsqemu.forks=F`, the same for every emulator. Without tsqemu.bench the
// initramfs behaves exactly like the default guest's (its /init execs the default script).
//
// Markers on the serial console (the harness timestamps each line on arrival, on the host):
//   tsqemu: /init started                      (INIT_MARKER, once /init runs)
//   BENCH compute run=R begin units=U          (printed by the program itself)
//   BENCH compute run=R end units=U checksum=C guest_us=T
//   BENCH syscalls run=R begin|end n=S …   BENCH forkexec run=R begin|end n=F failures=0 …
//   BENCH done                                 (then `poweroff -f`: the kernel prints "reboot: Power down")
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildDefaultInitramfs,
  DEFAULT_GUEST_CMDLINE,
  ensureDefaultGuest,
  guestCacheRoot,
  INIT_MARKER,
  INIT_SCRIPT,
} from "../../src/util/guest-cache.ts";
import { aptInstall, exec, firstLine, which } from "./exec.ts";

export const GUEST_SRC = join(dirname(fileURLToPath(import.meta.url)), "..", "guest");
export const PROGRAMS = ["compute", "syscalls", "forkexec"] as const;
export type Program = (typeof PROGRAMS)[number];

/** Flags for the guest programs: freestanding, static, i686 without MMX/SSE/x87 use. */
export const CFLAGS = [
  "-m32",
  "-march=i686",
  "-mno-sse",
  "-mno-mmx",
  "-static",
  "-nostdlib",
  "-ffreestanding",
  "-fno-pie",
  "-no-pie",
  "-fno-stack-protector",
  "-fno-asynchronous-unwind-tables",
  "-O2",
  "-Wall",
  "-Wextra",
];

export interface WorkParams {
  /** compute: work units per run (one unit ≈ 1–2.5 ms natively on this workplace's machines). */
  units: number;
  /** Runs of each program inside one boot (the first is the warm-up). */
  runs: number;
  /** syscalls: getpid calls per run. */
  syscalls: number;
  /** forkexec: fork+exec+wait rounds per run. */
  forks: number;
}

export const DEFAULT_WORK: WorkParams = { units: 100, runs: 3, syscalls: 20000, forks: 100 };

export type GuestWorkload = "boot" | "compute" | "kernel";

export function benchCmdline(workload: GuestWorkload, w: WorkParams): string {
  return (
    `${DEFAULT_GUEST_CMDLINE} tsqemu.bench=${workload} tsqemu.units=${w.units} tsqemu.runs=${w.runs} ` +
    `tsqemu.syscalls=${w.syscalls} tsqemu.forks=${w.forks}`
  );
}

export const BENCH_DONE = "BENCH done";

/** The bench /init. Falls back to the default guest's /init (kept as /init.default). */
export const BENCH_INIT_SCRIPT = `#!/bin/sh
# /init of tsqemu's benchmark guest (bench/lib/guest.ts). With tsqemu.bench=boot|compute|kernel on
# the kernel command line it runs that workload and powers off; otherwise it is the default guest.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
mount -t proc proc /proc
bench= units=100 runs=3 syscalls=20000 forks=100
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    tsqemu.bench=*) bench=\${arg#*=} ;;
    tsqemu.units=*) units=\${arg#*=} ;;
    tsqemu.runs=*) runs=\${arg#*=} ;;
    tsqemu.syscalls=*) syscalls=\${arg#*=} ;;
    tsqemu.forks=*) forks=\${arg#*=} ;;
  esac
done
if [ -z "$bench" ]; then
  umount /proc
  exec /init.default "$@"
fi
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "${INIT_MARKER}"
echo "BENCH start workload=$bench units=$units runs=$runs syscalls=$syscalls forks=$forks"
repeat() {
  r=1
  while [ $r -le $runs ]; do
    "$@" $r || echo "BENCH error $1 run=$r exit=$?"
    r=$((r + 1))
  done
}
case "$bench" in
  boot) ;;
  compute) repeat /bench/compute $units ;;
  kernel)
    repeat /bench/syscalls $syscalls
    repeat /bench/forkexec $forks
    ;;
  *) echo "BENCH error unknown workload $bench" ;;
esac
echo "${BENCH_DONE}"
poweroff -f
`;

export interface BenchGuest {
  kernel: string;
  initrd: string;
  /** The i386 programs (also run natively). */
  programs: Record<Program, string>;
  /** The static i386 busybox (forkexec's exec target when run natively). */
  busybox: string;
  kernelVersion: string;
}

export function benchCacheDir(): string {
  return join(guestCacheRoot(), "bench");
}

const sha256 = (data: Uint8Array | string): string => createHash("sha256").update(data).digest("hex");

async function gccCanBuild32(): Promise<boolean> {
  if (!which("gcc")) return false;
  const dir = join(benchCacheDir(), "probe");
  await mkdir(dir, { recursive: true });
  const src = join(dir, "probe.c");
  await writeFile(src, "int main(void){return 0;}\n");
  const r = await exec("gcc", ["-m32", "-static", "-o", join(dir, "probe"), src]);
  return r.code === 0;
}

/** Builds bench/guest/*.c with `gcc -m32` (installing gcc-multilib as root when needed). */
export async function buildPrograms(log: (l: string) => void): Promise<Record<Program, string>> {
  const outDir = join(benchCacheDir(), "bin");
  await mkdir(outDir, { recursive: true });
  const rt = readFileSync(join(GUEST_SRC, "rt.h"), "utf8");
  const out = {} as Record<Program, string>;
  let checked = false;
  for (const p of PROGRAMS) {
    const src = join(GUEST_SRC, `${p}.c`);
    const hash = sha256(JSON.stringify([readFileSync(src, "utf8"), rt, CFLAGS]));
    const bin = join(outDir, p);
    const stamp = `${bin}.sha256`;
    out[p] = bin;
    if (existsSync(bin) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === hash) continue;
    if (!checked) {
      if (!(await gccCanBuild32())) await aptInstall(["gcc", "gcc-multilib"], log);
      checked = true;
    }
    log(`Building ${p} (gcc -m32, freestanding)`);
    const r = await exec("gcc", [...CFLAGS, "-o", `${bin}.tmp`, src, "-lgcc"]);
    if (r.code !== 0) throw new Error(`gcc ${p}.c failed: ${firstLine(r.stderr)}`);
    await rename(`${bin}.tmp`, bin);
    await writeFile(stamp, `${hash}\n`);
  }
  return out;
}

/** The default guest (fetched if needed), the programs, and the bench initramfs around them. */
export async function ensureBenchGuest(log: (l: string) => void): Promise<BenchGuest> {
  const guest = await ensureDefaultGuest({ quiet: true, log });
  const programs = await buildPrograms(log);
  const busyboxPath = join(dirname(guest.kernel), "busybox");
  const busybox = new Uint8Array(await readFile(busyboxPath));
  const bins = await Promise.all(PROGRAMS.map(async (p) => new Uint8Array(await readFile(programs[p]))));
  const recipe = sha256(
    JSON.stringify([BENCH_INIT_SCRIPT, INIT_SCRIPT, sha256(busybox), ...bins.map((b) => sha256(b))]),
  );
  const initrd = join(benchCacheDir(), "initrd.img");
  const stamp = `${initrd}.sha256`;
  if (!existsSync(initrd) || !existsSync(stamp) || readFileSync(stamp, "utf8").trim() !== recipe) {
    log("Building the bench initramfs");
    const img = buildDefaultInitramfs(busybox, {
      init: BENCH_INIT_SCRIPT,
      extra: (w) => {
        w.file("init.default", INIT_SCRIPT, 0o755);
        w.dir("bench", 0o755);
        PROGRAMS.forEach((p, i) => {
          w.file(`bench/${p}`, bins[i]!, 0o755);
        });
      },
    });
    await writeFile(`${initrd}.tmp`, img);
    await rename(`${initrd}.tmp`, initrd);
    await writeFile(stamp, `${recipe}\n`);
  }
  return {
    kernel: guest.kernel,
    initrd,
    programs,
    busybox: busyboxPath,
    kernelVersion: guest.manifest.kernelVersion ?? "unknown",
  };
}
