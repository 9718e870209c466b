/// <reference types="vitest/config" />
// The web UI's build (vite build into dist/, served by the server's platform port through
// Envoy) and its component tests (vitest in jsdom).
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  plugins: [react()],
  resolve: {
    // The generated client code is the TypeScript client's (clients/ts/src/gen, `make
    // generate`), imported in place rather than generated a second time.
    alias: { "@client": here("../clients/ts/src") },
    // One copy of the runtime for our code and the generated code, whichever node_modules
    // is nearer to the importing file.
    dedupe: ["@bufbuild/protobuf", "@connectrpc/connect"],
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1500,
  },
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.{ts,tsx}"],
    setupFiles: ["test/setup.ts"],
    restoreMocks: true,
  },
});
