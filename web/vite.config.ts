// Vite config for the web page (npm run web / web:build / web:dev). The page lives in web/, the
// emulator core is bundled from src/ into a module worker, and the dev and preview servers serve
// the default guest from the local cache under /guest/ (web/guest-server.ts).
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";
import { guestMiddleware } from "./guest-server.ts";

const here = fileURLToPath(new URL(".", import.meta.url));

function defaultGuest(): Plugin {
  return {
    name: "tsqemu-default-guest",
    configureServer(server) {
      server.middlewares.use(guestMiddleware());
    },
    configurePreviewServer(server) {
      server.middlewares.use(guestMiddleware());
    },
  };
}

export default defineConfig({
  root: here,
  base: "./",
  plugins: [defaultGuest()],
  build: {
    outDir: fileURLToPath(new URL("../dist/web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    // The emulator worker bundles the whole core; that is expected.
    chunkSizeWarningLimit: 2048,
  },
  worker: { format: "es" },
  server: { host: "127.0.0.1", port: 5173, fs: { allow: [fileURLToPath(new URL("..", import.meta.url))] } },
  preview: { host: "127.0.0.1", port: 4173 },
  clearScreen: false,
});
