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
    /** The URL under which `dataDir` is served, if anything serves it. */
    publicBaseUrl: z.string().url().optional(),
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
