import { defineConfig, loadEnv } from "@medusajs/framework/utils"

loadEnv(process.env.NODE_ENV || "development", process.cwd())

const port = process.env.PORT || process.env.DEMO_PORT || "9000"
const base = process.env.MEDUSA_BACKEND_URL || `http://127.0.0.1:${port}`

module.exports = defineConfig({
  projectConfig: {
    databaseUrl:
      process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/render_engine_demo",
    workerMode: (process.env.MEDUSA_WORKER_MODE as "shared" | "worker" | "server") || "shared",
    http: {
      storeCors: process.env.STORE_CORS || base,
      adminCors: process.env.ADMIN_CORS || base,
      authCors: process.env.AUTH_CORS || base,
      jwtSecret: process.env.JWT_SECRET || "demo-jwt-secret",
      cookieSecret: process.env.COOKIE_SECRET || "demo-cookie-secret",
    },
    // The demo and the browser test serve the admin over plain http on 127.0.0.1:
    // a `Secure` session cookie would never be sent back. Never set this in production.
    ...(process.env.DEMO_INSECURE_COOKIES === "true" ? { cookieOptions: { secure: false } } : {}),
  },
  admin: {
    backendUrl: "/",
  },
  modules: [
    {
      // Every store process shares PostgreSQL advisory locks, so completions for one
      // product are attached one at a time whichever process handles them.
      resolve: "@medusajs/medusa/locking",
      options: {
        providers: [
          { resolve: "@medusajs/medusa/locking-postgres", id: "locking-postgres", is_default: true },
        ],
      },
    },
    {
      resolve: "@medusajs/medusa/file",
      options: {
        providers: [
          {
            resolve: "@medusajs/medusa/file-local",
            id: "local",
            options: { upload_dir: "static", backend_url: `${base}/static` },
          },
        ],
      },
    },
  ],
  plugins: [
    {
      resolve: "medusa-plugin-render-engine",
      options: {
        // Default job database: this store's own, schema `render_engine`.
        dataDir: process.env.RENDER_ENGINE_DATA,
        concurrency: Number(process.env.RENDER_ENGINE_CONCURRENCY || 2),
        outputs: { turntable: process.env.RENDER_ENGINE_TURNTABLE !== "false" },
        pollMs: 100,
        // Object storage instead of the data folder's blobs, e.g.
        // s3://bucket/prefix?endpoint=http://127.0.0.1:5900 (AWS_* credentials in the environment).
        ...(process.env.RENDER_ENGINE_STORAGE ? { storage: process.env.RENDER_ENGINE_STORAGE } : {}),
        // Design URLs (`design_url`): off unless set. The tests allow a server on loopback
        // (RENDER_ENGINE_HTTP_DESIGNS_ALLOW=127.0.0.1/32); "public" allows public servers only.
        httpDesigns: process.env.RENDER_ENGINE_HTTP_DESIGNS_ALLOW
          ? process.env.RENDER_ENGINE_HTTP_DESIGNS_ALLOW === "public"
            ? true
            : { allowRanges: process.env.RENDER_ENGINE_HTTP_DESIGNS_ALLOW.split(",").map((r) => r.trim()) }
          : false,
      },
    },
  ],
})
