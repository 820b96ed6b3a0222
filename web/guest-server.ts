// Serves the default guest from the local cache (`npm run guests`) to the page, as a Connect-style
// middleware for Vite's dev and preview servers (Node side only; the page never sees the path):
//   GET /guest/info.json   {available, cmdline, files: {vmlinuz, initrd.img} sizes, hint}
//   GET /guest/vmlinuz     the kernel (Content-Length set, so the page can show progress)
//   GET /guest/initrd.img  the initramfs
import { createReadStream, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { DEFAULT_GUEST_CMDLINE, DEFAULT_GUEST_NAME, defaultGuestPaths } from "../src/util/guest-cache.ts";

export interface GuestInfo {
  available: boolean;
  name: string;
  cmdline: string;
  /** Sizes in bytes of the files that exist. */
  files: Record<string, number>;
  /** What to do when the guest is missing. */
  hint?: string;
}

const FILES = ["vmlinuz", "initrd.img"] as const;

function fileSize(path: string): number | null {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

export function guestInfo(cacheRoot?: string): GuestInfo {
  const paths = defaultGuestPaths(cacheRoot);
  const files: Record<string, number> = {};
  for (const [name, path] of [
    ["vmlinuz", paths.kernel],
    ["initrd.img", paths.initrd],
  ] as const) {
    const size = fileSize(path);
    if (size !== null) files[name] = size;
  }
  const available = FILES.every((f) => f in files);
  return {
    available,
    name: DEFAULT_GUEST_NAME,
    cmdline: DEFAULT_GUEST_CMDLINE,
    files,
    ...(available
      ? {}
      : {
          hint: `The default guest is not in the local cache (${paths.dir}): run \`npm run guests\`, or pick files.`,
        }),
  };
}

type Next = (err?: unknown) => void;

/** The middleware: answers /guest/*, passes everything else on. */
export function guestMiddleware(
  cacheRoot?: string,
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  return (req, res, next) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (!url.pathname.startsWith("/guest/")) return next();
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.statusCode = 405;
      res.end();
      return;
    }
    const name = url.pathname.slice("/guest/".length);
    res.setHeader("Cache-Control", "no-store");
    if (name === "info.json") {
      const body = JSON.stringify(guestInfo(cacheRoot));
      res.setHeader("Content-Type", "application/json");
      res.end(req.method === "HEAD" ? undefined : body);
      return;
    }
    const paths = defaultGuestPaths(cacheRoot);
    const path = name === "vmlinuz" ? paths.kernel : name === "initrd.img" ? paths.initrd : null;
    const size = path ? fileSize(path) : null;
    if (!path || size === null) {
      res.statusCode = 404;
      res.setHeader("Content-Type", "text/plain");
      res.end(path ? `${name} is not in the guest cache: run \`npm run guests\`\n` : "no such guest file\n");
      return;
    }
    res.setHeader("Content-Type", "application/octet-stream");
    res.setHeader("Content-Length", String(size));
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const stream = createReadStream(path);
    stream.on("error", (e) => res.destroy(e));
    stream.pipe(res);
  };
}
