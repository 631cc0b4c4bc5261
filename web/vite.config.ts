import { defineConfig } from "vite";

// `npm run dev` serves the app with hot reload and forwards the API prefixes (and the
// gateway's /auth and /config.json) to the local gateway that `make run` starts.
const gateway = process.env.REGATTA_GATEWAY ?? "http://127.0.0.1:8000";
const forwarded = ["/recipes", "/meetings", "/stocks", "/trends", "/media", "/insights", "/auth", "/config.json"];

export default defineConfig({
  build: {
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: Object.fromEntries(forwarded.map((prefix) => [prefix, gateway])),
  },
});
