import path from "node:path"
import { z } from "@medusajs/framework/zod"

/**
 * The plugin's options (`plugins: [{ resolve: "medusa-plugin-render-engine", options }]`).
 * Medusa reserves the option name `database`, hence `jobDatabaseUrl`.
 */
export const PluginOptionsSchema = z
  .object({
    /** Job store URL: `postgres://...[?schema=name]`, `sqlite:///path/jobs.db`. Default: Medusa's database, schema `jobSchema`. */
    jobDatabaseUrl: z.string().min(1).optional(),
    /** The schema for the jobs when `jobDatabaseUrl` is derived from Medusa's database. */
    jobSchema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, "use 1 to 63 characters of a-z, 0-9 and _, not starting with a digit")
      .default("render_engine"),
    /** The folder for designs and outputs, shared by every process running workers. */
    dataDir: z.string().min(1).optional(),
    /**
     * Where designs and outputs are kept: an absolute folder, a `file://` URL or an
     * S3-compatible bucket `s3://bucket/prefix?endpoint=..&region=..` (credentials from
     * the AWS environment variables, never in the URL). Default: `blobs/` in `dataDir`.
     */
    storage: z
      .string()
      .trim()
      .min(1)
      .superRefine((v, ctx) => {
        const problem = storageProblem(v)
        if (problem) ctx.addIssue({ code: "custom", message: problem })
      })
      .optional(),
    /** The URL under which the storage's files are served (job output URLs become `{publicBaseUrl}/{key}`). */
    publicBaseUrl: z
      .string()
      .url("use an http(s) URL, e.g. https://cdn.example.com/render-engine")
      .refine((v) => /^https?:\/\//.test(v), "use an http(s) URL, e.g. https://cdn.example.com/render-engine")
      .optional(),
    /** How long presigned output URLs of a bucket stay valid, in seconds (max 7 days). */
    presignExpiresSecs: z.number().int().min(60).max(604_800).optional(),
    /**
     * Whether `POST /admin/render-jobs` accepts a `design_url` the engine downloads
     * (the engine's `httpDesigns`): `false` (default), `true` (public servers only), or
     * `{ allowRanges, timeoutMs, maxRedirects }` (e.g. `allowRanges: ["10.0.0.0/8"]` for
     * a server on the private network).
     */
    httpDesigns: z
      .union([
        z.boolean(),
        z
          .object({
            allowRanges: z
              .array(
                z
                  .string()
                  .regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, "use an IP range in CIDR notation, e.g. 10.0.0.0/8")
              )
              .optional(),
            timeoutMs: z.number().int().min(100).max(600_000).optional(),
            maxRedirects: z.number().int().min(0).max(10).optional(),
          })
          .strict(),
      ])
      .default(false),
    renderer: z.enum(["baked", "blender"]).default("baked"),
    concurrency: z.number().int().min(1).max(64).default(2),
    jobTimeoutMs: z.number().int().min(1000).optional(),
    maxAttempts: z.number().int().min(1).max(20).optional(),
    pollMs: z.number().int().min(10).optional(),
    templates: z.array(z.string().min(1)).default([]),
    outputs: z
      .object({
        printFile: z.boolean().optional(),
        allStills: z.boolean().optional(),
        turntable: z.boolean().optional(),
      })
      .optional(),
    /** Run workers in this process. Default: when Medusa's worker mode is `shared` or `worker`. */
    workers: z.boolean().optional(),
    /** The largest design upload, in bytes (default 10 MiB). */
    maxDesignBytes: z.number().int().min(1024).max(100 * 1024 * 1024).default(10 * 1024 * 1024),
    /** Make the front still the product thumbnail when the product has none. */
    setThumbnail: z.boolean().default(true),
    /** How far back the sweep looks for completed jobs whose media are missing. */
    sweepWindowHours: z.number().positive().default(24 * 7),
    /** How long running jobs get to finish at shutdown before they go back to the queue. */
    shutdownGraceMs: z.number().int().min(0).default(10_000),
  })
  .passthrough()

export type PluginOptions = z.input<typeof PluginOptionsSchema>
export type ResolvedOptions = z.output<typeof PluginOptionsSchema> & {
  jobDatabaseUrl: string
  dataDir: string
}

/**
 * What is wrong with a `storage` value, or null. The engine checks the URL in full when
 * it opens (E_VALIDATION on `storage`); this catches the common mistakes at boot.
 */
export function storageProblem(v: string): string | null {
  const hint = "use an absolute folder, file:///abs/path or s3://bucket/prefix?endpoint=...&region=..."
  if (v.startsWith("/")) return null
  if (!/^[a-z][a-z0-9+.-]*:/i.test(v)) return `\`${v}\` is a relative path; ${hint}`
  let url: URL
  try {
    url = new URL(v)
  } catch {
    return `\`${v}\` is not a valid URL; ${hint}`
  }
  if (url.protocol === "file:") return null
  if (url.protocol !== "s3:") return `unsupported scheme \`${url.protocol}\`; ${hint}`
  if (url.username || url.password) {
    return "credentials do not belong in the storage URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(url.hostname)) {
    return `\`${url.hostname}\` is not a valid bucket name (3-63 characters of a-z, 0-9, . and -)`
  }
  const endpoint = url.searchParams.get("endpoint")
  if (endpoint !== null && !/^https?:\/\/[^/]+/.test(endpoint)) {
    return `endpoint \`${endpoint}\` must be an http(s) URL, e.g. https://s3.eu-west-1.amazonaws.com`
  }
  return null
}

/** Medusa's database URL with `schema=<schema>` set (the engine's own tables live there). */
export function deriveJobDatabaseUrl(databaseUrl: string, schema: string): string {
  const url = new URL(databaseUrl)
  url.searchParams.set("schema", schema)
  return url.toString()
}

/** Validates the plugin options, filling in defaults; throws a readable error. */
export function resolveOptions(raw: unknown, medusaDatabaseUrl: string | undefined): ResolvedOptions {
  const parsed = PluginOptionsSchema.safeParse(raw ?? {})
  if (!parsed.success) {
    const detail = parsed.error.issues
      .map((i) => `${i.path.join(".") || "(options)"}: ${i.message}`)
      .join("; ")
    throw new Error(`medusa-plugin-render-engine: invalid plugin options: ${detail}`)
  }
  const o = parsed.data
  // Medusa's module loader sets `database` (an object) itself; a string there is a
  // store owner trying to name the job database, which breaks Medusa's loader.
  if (typeof (raw as { database?: unknown } | null)?.database === "string") {
    throw new Error(
      "medusa-plugin-render-engine: the option `database` is reserved by Medusa; use `jobDatabaseUrl`"
    )
  }
  let jobDatabaseUrl = o.jobDatabaseUrl
  if (!jobDatabaseUrl) {
    if (!medusaDatabaseUrl) {
      throw new Error(
        "medusa-plugin-render-engine: no `jobDatabaseUrl` option and no Medusa database URL to derive it from"
      )
    }
    jobDatabaseUrl = deriveJobDatabaseUrl(medusaDatabaseUrl, o.jobSchema)
  }
  const dataDir = path.resolve(o.dataDir ?? process.env.RENDER_ENGINE_DATA ?? "render-engine-data")
  return { ...o, jobDatabaseUrl, dataDir }
}
