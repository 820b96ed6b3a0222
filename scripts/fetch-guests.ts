// npm run guests [-- --force] [-- --quiet]
// Fetches the default guest (Debian 12's i386 686 kernel + a busybox initramfs) into
// ${XDG_CACHE_HOME:-~/.cache}/tsqemu/debian12-686/. See src/util/guest-cache.ts.
import { defaultGuestPaths, ensureDefaultGuest, GuestFetchError } from "../src/util/guest-cache.ts";

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  process.stdout.write(
    "usage: npm run guests [-- --force] [-- --quiet]\n" +
      "  Downloads Debian 12's linux-image-*-686 and busybox-static (i386) with apt-get download,\n" +
      `  builds an initramfs and caches both under ${defaultGuestPaths().dir}\n` +
      "  --force   download and rebuild even if the cache is complete\n" +
      "  --quiet   hide apt's own output\n",
  );
  process.exit(0);
}
const unknown = args.filter((a) => !["--force", "--quiet"].includes(a));
if (unknown.length > 0) {
  process.stderr.write(`fetch-guests: unknown option ${unknown[0]} (try --help)\n`);
  process.exit(2);
}

try {
  const started = Date.now();
  const guest = await ensureDefaultGuest({
    force: args.includes("--force"),
    quiet: args.includes("--quiet"),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const m = guest.manifest;
  const what =
    guest.action === "cached"
      ? "already cached"
      : guest.action === "rebuilt-initrd"
        ? "initramfs rebuilt"
        : `fetched in ${((Date.now() - started) / 1000).toFixed(1)} s`;
  process.stdout.write(
    `Default guest (${what}):\n` +
      `  kernel  ${guest.kernel}  (${m.kernelVersion ?? "unknown version"})\n` +
      `  initrd  ${guest.initrd}  (${(m.files["initrd.img"].size / 1048576).toFixed(1)} MiB)\n` +
      `  from    ${m.packages.map((p) => `${p.name}:${p.arch} ${p.version}`).join(", ")}\n` +
      `  boot    -kernel ${guest.kernel} -initrd ${guest.initrd} -append "${guest.cmdline}"\n`,
  );
} catch (e) {
  const reason = e instanceof GuestFetchError ? e.message : e instanceof Error ? e.message : String(e);
  process.stderr.write(`fetch-guests: ${reason}\n`);
  process.exit(1);
}
