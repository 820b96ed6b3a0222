// The default guest: Debian 12 (bookworm)'s i386 "686" kernel and a busybox initramfs built here.
//
// Files live in ${XDG_CACHE_HOME:-~/.cache}/tsqemu/debian12-686/:
//   vmlinuz        the bzImage from linux-image-<abi>-686 (the package linux-image-686 depends on)
//   initrd.img     gzip'd cpio (newc) archive written by src/util/cpio.ts: busybox + /init below
//   busybox        the static i386 busybox from busybox-static (kept to rebuild the initrd)
//   manifest.json  package names, versions and sizes, and the sha256 of every file
//
// Packages come from Debian's archive through apt (`apt-get download`, `dpkg-deb`), so the
// machine needs the i386 architecture enabled; as root this module enables it itself. A complete
// cache is used as is (ensureDefaultGuest() then only checks the files' hashes); when only the
// initramfs recipe changed (INIT_SCRIPT, the applet list), the initrd is rebuilt without
// downloading anything.
//
// Power-off in the guest: /init is PID 1 and stays a shell script. It runs the interactive shell
// on ttyS0 in its own session (so job control works) and waits for it. Typing `poweroff`,
// `reboot` or `halt` in that shell makes busybox signal PID 1 (SIGUSR2, SIGTERM, SIGUSR1 — what
// busybox init expects); /init traps those signals and calls `poweroff -f` / `reboot -f` /
// `halt -f`, i.e. the reboot(2) system call. `poweroff -f` typed directly does the same at once,
// and leaving the shell (exit, Ctrl-D) powers the machine off too.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { gzipSync } from "node:zlib";
import { parseBzImage } from "../machine/boot/linux.ts";
import { CpioWriter } from "./cpio.ts";

export const DEFAULT_GUEST_NAME = "debian12-686";

/** A command line that suits the default guest: kernel messages and the shell on the first UART. */
export const DEFAULT_GUEST_CMDLINE = "console=ttyS0";

/** What /init prints on the console once it runs; boot tests wait for it. */
export const INIT_MARKER = "tsqemu: /init started";

const MANIFEST_FORMAT = 1;
const KERNEL_METAPACKAGE = "linux-image-686";
const BUSYBOX_PACKAGE = "busybox-static";
const ARCH = "i386";

/** Applets linked in /bin at build time; `busybox --install -s` in /init adds the rest. */
export const BUSYBOX_APPLETS: readonly string[] = [
  "sh ash mount umount uname cat echo ls poweroff reboot halt date ps dmesg sleep mkdir rm cp mv ln ",
  "grep sed awk head tail wc sort uniq tr cut find xargs test [ true false env setsid cttyhack stty ",
  "tty kill free top uptime hostname sync vi less more od hexdump md5sum sha256sum dd df du touch ",
  "chmod chown id printf expr seq yes time nproc mknod stat readlink basename dirname pwd clear ",
  "reset watch which gzip gunzip zcat tar cpio ifconfig ip route ping hwclock lsmod insmod modprobe ",
  "mdev devmem sysctl switch_root pidof killall timeout usleep",
]
  .join("")
  .split(" ");

/** The initramfs's /init (see the file comment for how power-off reaches the kernel). */
export const INIT_SCRIPT = `#!/bin/sh
# /init of tsqemu's default guest (built by scripts/fetch-guests.ts). PID 1 stays this script:
# it runs a login shell on the serial port and powers the machine off when the shell ends or when
# poweroff/reboot/halt (which signal PID 1) are typed.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root TERM=\${TERM:-vt100}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || echo "tsqemu: no devtmpfs, keeping the initramfs /dev"
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts 2>/dev/null
/bin/busybox --install -s 2>/dev/null
hostname tsqemu
echo "${INIT_MARKER}"
echo "tsqemu: Linux $(uname -r) $(uname -m); type poweroff to stop the machine"

trap 'echo "tsqemu: poweroff"; sync; poweroff -f' USR2
trap 'echo "tsqemu: reboot"; sync; reboot -f' TERM
trap 'echo "tsqemu: halt"; sync; halt -f' USR1

# tsqemu_tty=ttyS1 on the kernel command line moves the shell to another terminal.
tty=/dev/\${tsqemu_tty:-ttyS0}
# setsid makes the shell a session leader without a terminal; its first open of the tty makes
# that the controlling terminal, so job control (Ctrl-C, Ctrl-Z, fg) works. A known window size
# keeps the shell's line editor from querying the terminal (ESC [ 6 n) at every prompt.
setsid sh -c "exec <$tty >$tty 2>&1; stty cols 80 rows 24 2>/dev/null; exec sh -l" &
wait $!
echo "tsqemu: shell exited, powering off"
sync
poweroff -f
`;

const PROFILE = `export PS1='\\h:\\w\\$ '
alias ll='ls -l'
`;

/** Fixed mtime for every initramfs entry (2023-06-10, bookworm's release) so builds are reproducible. */
const INITRAMFS_MTIME = 1686355200;

export class GuestFetchError extends Error {
  override name = "GuestFetchError";
}

export interface DefaultGuestPaths {
  /** The folder of the default guest inside the cache. */
  dir: string;
  kernel: string;
  initrd: string;
  busybox: string;
  manifest: string;
}

export interface PackageRecord {
  name: string;
  arch: string;
  version: string;
  /** Size of the .deb in bytes. */
  size: number;
  /** sha256 of the .deb. */
  sha256: string;
}

export interface FileRecord {
  size: number;
  sha256: string;
}

export interface GuestManifest {
  format: number;
  guest: string;
  created: string;
  kernelVersion: string | null;
  /** sha256 of what goes into the initramfs besides busybox (script, applets, layout). */
  initrdRecipe: string;
  packages: PackageRecord[];
  files: { vmlinuz: FileRecord; "initrd.img": FileRecord; busybox: FileRecord };
  cmdline: string;
}

export interface DefaultGuest {
  kernel: string;
  initrd: string;
  cmdline: string;
  manifest: GuestManifest;
  /** What this call did: "cached" (nothing), "rebuilt-initrd" or "downloaded". */
  action: "cached" | "rebuilt-initrd" | "downloaded";
}

export interface EnsureGuestOptions {
  /** Progress lines (default: stderr). apt's own output goes to stderr as well unless quiet. */
  log?: (line: string) => void;
  /** Hide apt's output (progress still goes to `log`). */
  quiet?: boolean;
  /** Download and rebuild even when the cache is complete. */
  force?: boolean;
  /** Cache root instead of ${XDG_CACHE_HOME:-~/.cache}/tsqemu. */
  cacheRoot?: string;
}

/** ${XDG_CACHE_HOME:-~/.cache}/tsqemu */
export function guestCacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg?.startsWith("/") ? xdg : join(homedir(), ".cache");
  return join(base, "tsqemu");
}

/** Where the default guest's files are (whether or not they exist yet). */
export function defaultGuestPaths(cacheRoot = guestCacheRoot()): DefaultGuestPaths {
  const dir = join(cacheRoot, DEFAULT_GUEST_NAME);
  return {
    dir,
    kernel: join(dir, "vmlinuz"),
    initrd: join(dir, "initrd.img"),
    busybox: join(dir, "busybox"),
    manifest: join(dir, "manifest.json"),
  };
}

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

/** The recipe hash: changes whenever the initramfs would come out different for the same busybox. */
export function initrdRecipe(): string {
  return sha256(
    new TextEncoder().encode(JSON.stringify([2, INIT_SCRIPT, PROFILE, BUSYBOX_APPLETS, INITRAMFS_MTIME])),
  );
}

/** What a variant of the default initramfs changes (bench/lib/guest.ts builds one). */
export interface InitramfsVariant {
  /** The /init script instead of INIT_SCRIPT. */
  init?: string;
  /** Adds entries (folders, files) after the default ones. */
  extra?: (w: CpioWriter) => void;
}

/** The default guest's initramfs (gzip'd newc cpio) around the given i386 busybox binary. */
export function buildDefaultInitramfs(busybox: Uint8Array, variant: InitramfsVariant = {}): Uint8Array {
  const w = new CpioWriter(INITRAMFS_MTIME);
  for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "run", "tmp", "mnt"]) {
    w.dir(d, d === "tmp" ? 0o1777 : 0o755);
  }
  w.dir("root", 0o700);
  w.chardev("dev/console", 5, 1, 0o600);
  w.chardev("dev/ttyS0", 4, 64, 0o660);
  w.chardev("dev/ttyS1", 4, 65, 0o660);
  w.chardev("dev/tty", 5, 0, 0o666);
  w.chardev("dev/null", 1, 3, 0o666);
  w.chardev("dev/zero", 1, 5, 0o666);
  w.file("bin/busybox", busybox, 0o755);
  for (const applet of BUSYBOX_APPLETS) w.symlink(`bin/${applet}`, "busybox");
  w.file("etc/profile", PROFILE, 0o644);
  w.file("etc/hostname", "tsqemu\n", 0o644);
  w.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644);
  w.file("etc/group", "root:x:0:\n", 0o644);
  w.file("init", variant.init ?? INIT_SCRIPT, 0o755);
  variant.extra?.(w);
  const gz = gzipSync(w.finish(), { level: 9 });
  return new Uint8Array(gz.buffer, gz.byteOffset, gz.length);
}

function checkI386Elf(bin: Uint8Array): void {
  const ok =
    bin.length > 0x40 &&
    bin[0] === 0x7f &&
    bin[1] === 0x45 &&
    bin[2] === 0x4c &&
    bin[3] === 0x46 &&
    bin[4] === 1 && // ELFCLASS32
    bin[5] === 1 && // little-endian
    (bin[18]! | (bin[19]! << 8)) === 3; // EM_386
  if (!ok) throw new GuestFetchError("the busybox from busybox-static:i386 is not a 32-bit i386 ELF binary");
}

function fileRecord(data: Uint8Array): FileRecord {
  return { size: data.length, sha256: sha256(data) };
}

function readManifest(path: string): GuestManifest | null {
  try {
    const m = JSON.parse(readFileSync(path, "utf8")) as GuestManifest;
    return m.format === MANIFEST_FORMAT && m.guest === DEFAULT_GUEST_NAME ? m : null;
  } catch {
    return null;
  }
}

function fileMatches(path: string, rec: FileRecord | undefined): boolean {
  if (!rec || !existsSync(path)) return false;
  const data = readFileSync(path);
  return data.length === rec.size && sha256(data) === rec.sha256;
}

/** The manifest of a complete, intact cache, else null (no network, no apt). */
export function readDefaultGuest(cacheRoot = guestCacheRoot()): GuestManifest | null {
  const p = defaultGuestPaths(cacheRoot);
  const m = readManifest(p.manifest);
  if (!m) return null;
  const ok =
    fileMatches(p.kernel, m.files.vmlinuz) &&
    fileMatches(p.initrd, m.files["initrd.img"]) &&
    m.initrdRecipe === initrdRecipe();
  return ok ? m : null;
}

async function writeAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

// ---- apt plumbing -------------------------------------------------------------------------

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; stdout and stderr captured, or stdout/stderr shown live when `show`. */
function run(cmd: string, args: string[], show = false, cwd?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd,
      stdio: ["ignore", show ? "inherit" : "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C", DEBIAN_FRONTEND: "noninteractive" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (show) process.stderr.write(d);
    });
    child.on("error", (e) => resolve({ code: 127, stdout, stderr: `${stderr}${e.message}` }));
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** `dpkg-deb --fsys-tarfile DEB | tar -xO PATTERN`: the contents of one member of a .deb. */
function extractFromDeb(deb: string, pattern: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const dpkg = spawn("dpkg-deb", ["--fsys-tarfile", deb], { stdio: ["ignore", "pipe", "pipe"] });
    const tar = spawn("tar", ["-xO", "--wildcards", "-f", "-", pattern], { stdio: ["pipe", "pipe", "pipe"] });
    dpkg.stdout.pipe(tar.stdin);
    tar.stdin.on("error", () => {}); // tar may stop reading early; dpkg-deb then gets EPIPE
    const out: Buffer[] = [];
    let err = "";
    tar.stdout.on("data", (d: Buffer) => out.push(d));
    tar.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    dpkg.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    let failed = false;
    const fail = (e: Error): void => {
      if (!failed) reject(e);
      failed = true;
    };
    dpkg.on("error", fail);
    tar.on("error", fail);
    tar.on("close", (code) => {
      const data = Buffer.concat(out);
      if (code !== 0 || data.length === 0) {
        fail(
          new GuestFetchError(
            `cannot extract ${pattern} from ${deb}: ${firstLine(err) || `tar exit ${code}`}`,
          ),
        );
      } else if (!failed) resolve(data);
    });
  });
}

function firstLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const line = lines.find((l) => l.startsWith("E:")) ?? lines[0] ?? "";
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

const isRoot = (): boolean => process.getuid?.() === 0;

async function i386Enabled(): Promise<boolean> {
  const native = await run("dpkg", ["--print-architecture"]);
  if (native.stdout.trim() === ARCH) return true;
  const foreign = await run("dpkg", ["--print-foreign-architectures"]);
  return foreign.stdout.split(/\s+/).includes(ARCH);
}

/** apt-cache depends linux-image-686:i386 → "linux-image-6.1.0-NN-686". */
async function resolveKernelPackage(): Promise<string | null> {
  const r = await run("apt-cache", ["depends", `${KERNEL_METAPACKAGE}:${ARCH}`]);
  if (r.code !== 0) return null;
  const m = /Depends:\s*<?(linux-image-\d[^\s:>]*-686)(?::i386)?>?/.exec(r.stdout);
  return m ? m[1]! : null;
}

interface Candidate {
  name: string;
  version: string;
  size: number;
  sha256: string;
}

async function candidate(name: string): Promise<Candidate | null> {
  const r = await run("apt-cache", ["show", "--no-all-versions", `${name}:${ARCH}`]);
  if (r.code !== 0) return null;
  const field = (f: string): string | undefined =>
    new RegExp(`^${f}: (.+)$`, "m").exec(r.stdout)?.[1]?.trim();
  const version = field("Version");
  if (!version) return null;
  return { name, version, size: Number(field("Size") ?? 0), sha256: field("SHA256") ?? "" };
}

async function aptUpdate(log: (l: string) => void, quiet: boolean): Promise<void> {
  log("Updating apt's package lists (apt-get update)…");
  const r = await run("apt-get", ["update"], !quiet);
  // A partial failure (one mirror index mid-sync) still leaves usable lists; what matters is
  // whether the packages resolve afterwards.
  if (r.code !== 0)
    log(`apt-get update reported errors (${firstLine(r.stderr) || `exit ${r.code}`}); continuing`);
}

const NO_APT =
  "apt-get/dpkg-deb not found: this machine cannot fetch Debian's guest packages; " +
  "pass your own kernel and initramfs with -kernel bzImage -initrd initrd.img";

async function resolvePackages(log: (l: string) => void, quiet: boolean): Promise<[Candidate, Candidate]> {
  for (const tool of ["apt-get", "apt-cache", "dpkg", "dpkg-deb", "tar"]) {
    if (!onPath(tool)) throw new GuestFetchError(NO_APT);
  }
  let updated = false;
  if (!(await i386Enabled())) {
    if (!isRoot()) {
      throw new GuestFetchError(
        "i386 packages are not enabled: run `sudo dpkg --add-architecture i386 && sudo apt-get update`, " +
          "then `npm run guests` again (or pass your own -kernel/-initrd)",
      );
    }
    log("Enabling i386 packages (dpkg --add-architecture i386)");
    const r = await run("dpkg", ["--add-architecture", ARCH]);
    if (r.code !== 0)
      throw new GuestFetchError(`dpkg --add-architecture i386 failed: ${firstLine(r.stderr)}`);
    await aptUpdate(log, quiet);
    updated = true;
  }
  for (;;) {
    const kernelName = await resolveKernelPackage();
    const kernel = kernelName ? await candidate(kernelName) : null;
    const busybox = await candidate(BUSYBOX_PACKAGE);
    if (kernel && busybox) return [kernel, busybox];
    if (updated || !isRoot()) {
      const missing = !kernel ? `${KERNEL_METAPACKAGE}:${ARCH}` : `${BUSYBOX_PACKAGE}:${ARCH}`;
      throw new GuestFetchError(
        `apt knows no ${missing}: run \`${isRoot() ? "" : "sudo "}apt-get update\` (with Debian 12's main ` +
          "archive in the sources), then `npm run guests` again",
      );
    }
    await aptUpdate(log, quiet);
    updated = true;
  }
}

async function downloadDebs(
  pkgs: Candidate[],
  dir: string,
  log: (l: string) => void,
  quiet: boolean,
): Promise<Map<string, string>> {
  const total = pkgs.reduce((s, p) => s + p.size, 0);
  for (const p of pkgs) log(`  ${p.name}:${ARCH} ${p.version}  ${mib(p.size)}`);
  log(`Downloading ${pkgs.length} packages (${mib(total)}) with apt-get download…`);
  const args = ["download"];
  // As root apt drops to the _apt user, which cannot write our private temp dir; it would fall
  // back to root with a warning. Say so up front.
  if (isRoot()) args.push("-o", "APT::Sandbox::User=root");
  args.push(...pkgs.map((p) => `${p.name}:${ARCH}=${p.version}`));
  const started = Date.now();
  const r = await run("apt-get", args, !quiet, dir);
  if (r.code !== 0) {
    throw new GuestFetchError(`apt-get download failed: ${firstLine(r.stderr) || `exit ${r.code}`}`);
  }
  log(`Downloaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const files = readdirSync(dir).filter((f) => f.endsWith(".deb"));
  const found = new Map<string, string>();
  for (const p of pkgs) {
    const f = files.find((name) => name.startsWith(`${p.name}_`));
    if (!f) throw new GuestFetchError(`apt-get download produced no .deb for ${p.name}`);
    found.set(p.name, join(dir, f));
  }
  return found;
}

async function writeGuest(
  paths: DefaultGuestPaths,
  kernel: Uint8Array,
  busybox: Uint8Array,
  packages: PackageRecord[],
): Promise<GuestManifest> {
  const bz = parseBzImage(kernel);
  checkI386Elf(busybox);
  const initrd = buildDefaultInitramfs(busybox);
  await mkdir(paths.dir, { recursive: true });
  await writeAtomic(paths.kernel, kernel);
  await writeAtomic(paths.busybox, busybox, 0o755); // runs on x86 hosts too (tests use its cpio)
  await writeAtomic(paths.initrd, initrd);
  const manifest: GuestManifest = {
    format: MANIFEST_FORMAT,
    guest: DEFAULT_GUEST_NAME,
    created: new Date().toISOString(),
    kernelVersion: bz.versionString,
    initrdRecipe: initrdRecipe(),
    packages,
    files: { vmlinuz: fileRecord(kernel), "initrd.img": fileRecord(initrd), busybox: fileRecord(busybox) },
    cmdline: DEFAULT_GUEST_CMDLINE,
  };
  await writeAtomic(paths.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * Makes sure the default guest is in the cache, fetching it from Debian's archive with apt when
 * it is not. Throws GuestFetchError (one-line message) when that cannot be done.
 */
export async function ensureDefaultGuest(options: EnsureGuestOptions = {}): Promise<DefaultGuest> {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const quiet = options.quiet ?? false;
  const paths = defaultGuestPaths(options.cacheRoot ?? guestCacheRoot());
  const done = (manifest: GuestManifest, action: DefaultGuest["action"]): DefaultGuest => ({
    kernel: paths.kernel,
    initrd: paths.initrd,
    cmdline: manifest.cmdline,
    manifest,
    action,
  });

  if (!options.force) {
    const m = readManifest(paths.manifest);
    if (m && fileMatches(paths.kernel, m.files.vmlinuz)) {
      if (m.initrdRecipe === initrdRecipe() && fileMatches(paths.initrd, m.files["initrd.img"])) {
        return done(m, "cached");
      }
      if (fileMatches(paths.busybox, m.files.busybox)) {
        log("Rebuilding the initramfs (its recipe changed)");
        const manifest = await writeGuest(
          paths,
          await readFile(paths.kernel),
          await readFile(paths.busybox),
          m.packages,
        );
        return done(manifest, "rebuilt-initrd");
      }
    }
  }

  const [kernelPkg, busyboxPkg] = await resolvePackages(log, quiet);
  await mkdir(paths.dir, { recursive: true });
  const tmp = await mkdtemp(join(paths.dir, ".download-"));
  try {
    const debs = await downloadDebs([kernelPkg, busyboxPkg], tmp, log, quiet);
    const packages: PackageRecord[] = [];
    for (const p of [kernelPkg, busyboxPkg]) {
      const deb = new Uint8Array(await readFile(debs.get(p.name)!));
      const hash = sha256(deb);
      if (p.sha256 && hash !== p.sha256) {
        throw new GuestFetchError(`${p.name}: sha256 mismatch (got ${hash}, apt expected ${p.sha256})`);
      }
      packages.push({ name: p.name, arch: ARCH, version: p.version, size: deb.length, sha256: hash });
    }
    log("Extracting vmlinuz and busybox, building the initramfs");
    const kernel = await extractFromDeb(debs.get(kernelPkg.name)!, "./boot/vmlinuz-*");
    const busybox = await extractFromDeb(debs.get(busyboxPkg.name)!, "./bin/busybox");
    try {
      const manifest = await writeGuest(paths, kernel, busybox, packages);
      return done(manifest, "downloaded");
    } catch (e) {
      if (e instanceof GuestFetchError) throw e;
      throw new GuestFetchError(`bad guest files: ${e instanceof Error ? e.message : String(e)}`);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
