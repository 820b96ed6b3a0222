// SeaBIOS for v86, from Debian's `seabios` package: `apt-get download seabios` and
// `dpkg-deb -x` into ${XDG_CACHE_HOME:-~/.cache}/tsqemu/seabios/ (never committed).
//
// v86 copies the BIOS image to the top of the first MiB, so it needs the 128 KiB `bios.bin`
// (the 256 KiB `bios-256k.bin` would overlap the VGA BIOS at 0xC0000); the VGA BIOS is
// `vgabios-stdvga.bin` (Bochs/QEMU standard VGA with VBE, the adapter v86 emulates).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guestCacheRoot } from "../../src/util/guest-cache.ts";
import { exec, firstLine, isRoot } from "./exec.ts";

export interface SeaBios {
  bios: string;
  vgaBios: string;
  /** The Debian package version the files came from. */
  version: string;
}

export function seabiosDir(): string {
  return join(guestCacheRoot(), "seabios");
}

function found(dir: string): SeaBios | null {
  const root = join(dir, "usr/share/seabios");
  const bios = join(root, "bios.bin");
  const vgaBios = join(root, "vgabios-stdvga.bin");
  if (!existsSync(bios) || !existsSync(vgaBios)) return null;
  const stamp = join(dir, "version.txt");
  const version = existsSync(stamp) ? readFileSync(stamp, "utf8").trim() : "unknown";
  return { bios, vgaBios, version };
}

/** The cached SeaBIOS files, fetched with apt on first use. */
export async function ensureSeaBios(log: (l: string) => void): Promise<SeaBios> {
  const dir = seabiosDir();
  const have = found(dir);
  if (have) return have;
  await mkdir(dir, { recursive: true });
  const tmp = await mkdtemp(join(dir, ".download-"));
  try {
    log("Fetching Debian's seabios package (apt-get download seabios)…");
    const args = ["download"];
    if (isRoot()) args.push("-o", "APT::Sandbox::User=root");
    args.push("seabios");
    let r = await exec("apt-get", args, { cwd: tmp });
    if (r.code !== 0 && isRoot()) {
      await exec("apt-get", ["update", "-q"]);
      r = await exec("apt-get", args, { cwd: tmp });
    }
    if (r.code !== 0) throw new Error(`apt-get download seabios failed: ${firstLine(r.stderr)}`);
    const deb = readdirSync(tmp).find((f) => f.startsWith("seabios_") && f.endsWith(".deb"));
    if (!deb) throw new Error("apt-get download seabios produced no .deb");
    const x = await exec("dpkg-deb", ["-x", join(tmp, deb), dir]);
    if (x.code !== 0) throw new Error(`dpkg-deb -x ${deb} failed: ${firstLine(x.stderr)}`);
    const version = deb.split("_")[1] ?? "unknown";
    await writeFile(join(dir, "version.txt"), `${decodeURIComponent(version)}\n`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const got = found(dir);
  if (!got) throw new Error("the seabios package has no usr/share/seabios/bios.bin and vgabios-stdvga.bin");
  return got;
}
