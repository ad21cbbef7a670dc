import { MedusaError, MedusaService } from "@medusajs/framework/utils"
import type { Logger } from "@medusajs/framework/types"
import { RenderEngine, listTemplates, preflight } from "render-engine"
import type {
  EngineOptions,
  JobFilter,
  JobStatus,
  PreflightReport,
  ProgressEvent,
  RenderJob,
  TemplateInfo,
} from "render-engine"
import RenderJobAttachment from "./models/render-job-attachment"
import { isEngineError, mapEngineErrors, toMedusaError } from "./errors"
import { resolveOptions, type ResolvedOptions } from "./options"

export const RENDER_JOB_COMPLETED = "render_job.completed"
export const RENDER_JOB_FAILED = "render_job.failed"

/** What a job's output is, for the API, the widget and the attach workflow. */
export type OutputKind = "still" | "animation" | "print_file" | "texture" | "other"

export type RenderOutput = {
  name: string
  kind: OutputKind
  /** The engine's URL (a `file://` URL unless `publicBaseUrl` is set). */
  url: string
  content_type: string
  size: number
}

export type CreateRenderJobInput = {
  /** The design's bytes, or an `http(s)://` URL the engine downloads (option `httpDesigns`). */
  design: Buffer | string
  product_id: string
  variant_id?: string
  preset: string
  color?: string
  template_id?: string
  metadata?: Record<string, unknown>
}

const STILL_ORDER = ["front.png", "three-quarter.png", "back.png"]

/** The plugin's kind of an engine output kind (`still_front`, `turntable_mp4`, ...). */
function kindOf(engineKind: string): OutputKind {
  if (engineKind.startsWith("still_")) return "still"
  if (engineKind.startsWith("turntable_")) return "animation"
  if (engineKind === "print_file") return "print_file"
  if (engineKind === "atlas") return "texture"
  return "other"
}

/** The typed outputs of a job (the engine's `job.outputs`), stills front first. */
export function outputsOf(job: RenderJob): RenderOutput[] {
  const outputs: RenderOutput[] = (job.outputs ?? []).map((o) => ({
    name: o.name,
    kind: kindOf(o.kind),
    url: o.url,
    content_type: o.content_type,
    size: o.size,
  }))
  const rank = (o: RenderOutput) => {
    const i = STILL_ORDER.indexOf(o.name)
    return i === -1 ? STILL_ORDER.length : i
  }
  return outputs.sort((a, b) => rank(a) - rank(b))
}

/** The preflight report the engine recorded on the job, if any. */
export function preflightOf(job: RenderJob): PreflightReport | null {
  const p = (job.metadata as { preflight?: unknown } | null)?.preflight
  return p && typeof p === "object" ? (p as PreflightReport) : null
}

/**
 * The engine's open options from the plugin's (resolved) options. Opening never
 * migrates the job tables (`migrate: false`: Medusa loads the module in every CLI
 * command); `medusa db:migrate` does, through the plugin's migration script.
 */
export function engineOptionsOf(o: ResolvedOptions): EngineOptions {
  const opts: EngineOptions = {
    migrate: false,
    database: o.jobDatabaseUrl,
    dataDir: o.dataDir,
    renderer: o.renderer,
    concurrency: o.concurrency,
    maxDesignBytes: o.maxDesignBytes,
    templates: o.templates,
    httpDesigns: o.httpDesigns,
  }
  if (o.storage !== undefined) opts.storage = o.storage
  if (o.publicBaseUrl !== undefined) opts.publicBaseUrl = o.publicBaseUrl
  if (o.presignExpiresSecs !== undefined) opts.presignExpiresSecs = o.presignExpiresSecs
  if (o.jobTimeoutMs !== undefined) opts.jobTimeoutMs = o.jobTimeoutMs
  if (o.maxAttempts !== undefined) opts.maxAttempts = o.maxAttempts
  if (o.pollMs !== undefined) opts.pollMs = o.pollMs
  if (o.outputs !== undefined) opts.outputs = o.outputs
  return opts
}

type Dependencies = {
  logger: Logger
  event_bus?: { emit: (msg: { name: string; data: unknown }) => Promise<void> }
  configModule?: { projectConfig?: { databaseUrl?: string; workerMode?: string } }
}

/**
 * One engine per process and job store: every instance of the service (Medusa makes
 * one per module load) shares it, so workers never run twice in one process.
 */
const engines = new Map<string, Promise<RenderEngine>>()

/**
 * The `renderEngine` module: wraps one `RenderEngine` (opened lazily, so Medusa CLI
 * commands such as `db:migrate` or `user` never open it) and keeps the durable record
 * of which jobs' media were attached to their products.
 */
export default class RenderEngineModuleService extends MedusaService({
  RenderJobAttachment,
}) {
  protected readonly logger_: Logger
  protected readonly options_: ResolvedOptions
  protected readonly workerMode_: string
  protected readonly eventBus_?: Dependencies["event_bus"]
  protected engine_?: RenderEngine
  /** Removes this service's progress listener from the shared engine. */
  protected unsubscribe_?: () => void
  protected workersRunning_ = false
  protected templatePaths_?: Map<string, string>

  constructor(container: Dependencies, options: unknown) {
    // eslint-disable-next-line prefer-rest-params
    super(...arguments)
    this.logger_ = container.logger
    let configModule: Dependencies["configModule"]
    try {
      configModule = container.configModule
    } catch {
      configModule = undefined
    }
    try {
      this.eventBus_ = container.event_bus
    } catch {
      this.eventBus_ = undefined
    }
    this.options_ = resolveOptions(
      options,
      configModule?.projectConfig?.databaseUrl ?? process.env.DATABASE_URL
    )
    this.workerMode_ =
      process.env.MEDUSA_WORKER_MODE ?? configModule?.projectConfig?.workerMode ?? "shared"
  }

  /** The resolved options (the job database URL is not exposed by the API). */
  getOptions(): ResolvedOptions {
    return this.options_
  }

  /** Whether this process runs workers: the `workers` option, else Medusa's worker mode. */
  workersEnabled(): boolean {
    if (typeof this.options_.workers === "boolean") return this.options_.workers
    return this.workerMode_ === "shared" || this.workerMode_ === "worker"
  }

  /** The process's engine, opened on first use (its job tables must be migrated). */
  async getEngine(): Promise<RenderEngine> {
    if (this.engine_) return this.engine_
    const o = this.options_
    const key = `${o.jobDatabaseUrl}\u0000${o.dataDir}\u0000${o.storage ?? ""}`
    let opening: Promise<RenderEngine> | undefined = engines.get(key)
    if (!opening) {
      const fresh = RenderEngine.open(engineOptionsOf(o))
      engines.set(key, fresh)
      fresh.catch(() => engines.delete(key))
      opening = fresh
    }
    try {
      const engine = await opening
      this.engine_ ??= engine
      return engine
    } catch (e) {
      if (isEngineError(e) && e.code === "E_STORE" && /migrat/i.test(e.message)) {
        throw new MedusaError(
          MedusaError.Types.UNEXPECTED_STATE,
          `render-engine: the job tables are not migrated to this version; run \`npx medusa db:migrate\` (the plugin's migration script migrates them). ${e.message}`,
          "E_STORE"
        )
      }
      throw toMedusaError(e)
    }
  }

  /**
   * Creates or upgrades the engine's job tables (idempotent): what the plugin's
   * migration script runs in `medusa db:migrate`. Returns the migrations applied now.
   */
  async migrateEngine(): Promise<{ applied: number[]; version: number }> {
    try {
      return await RenderEngine.migrate({ database: this.options_.jobDatabaseUrl })
    } catch (e) {
      throw toMedusaError(e)
    }
  }

  /**
   * Progress events of this process's workers: only the ends matter here (the job's
   * own `progress`, recorded by its worker, is what the API shows, from any process).
   */
  protected onProgress_(e: ProgressEvent): void {
    if (e.stage === "completed" || (e.stage === "failed" && e.status === "failed")) {
      const name = e.stage === "completed" ? RENDER_JOB_COMPLETED : RENDER_JOB_FAILED
      this.eventBus_
        ?.emit({ name, data: { id: e.job_id } })
        .catch((err) => this.logger_.error(`render-engine: cannot emit ${name} for ${e.job_id}: ${err}`))
    }
  }

  /** The template packs jobs may name, with their presets. */
  listTemplates(): TemplateInfo[] {
    try {
      return listTemplates(this.options_.templates)
    } catch (e) {
      throw toMedusaError(e)
    }
  }

  /** `template_id` -> what the stateless `preflight` takes (`classic-tee` or a pack path). */
  protected templateArg_(templateId: string | undefined): string | undefined {
    if (!templateId) return undefined
    if (!this.templatePaths_) {
      const map = new Map<string, string>()
      map.set("classic-tee", "classic-tee")
      for (const p of this.options_.templates) {
        if (p === "classic-tee") continue
        const infos = listTemplates([p])
        const own = infos[infos.length - 1]
        if (own) map.set(own.id, p)
      }
      this.templatePaths_ = map
    }
    const found = this.templatePaths_.get(templateId)
    if (!found) {
      throw new MedusaError(
        MedusaError.Types.INVALID_DATA,
        `template_id: unknown template \`${templateId}\`; this store has ${[
          ...this.templatePaths_.keys(),
        ].join(", ")}`,
        "E_VALIDATION"
      )
    }
    return found
  }

  /**
   * Decodes the whole design and checks it against the placement: effective DPI,
   * clipping, visibility on the colour. Creates nothing.
   */
  async preflightDesign(
    design: Buffer,
    opts: { preset: string; color?: string; template_id?: string }
  ): Promise<PreflightReport> {
    if (design.length > this.options_.maxDesignBytes) {
      throw new MedusaError(
        MedusaError.Types.INVALID_DATA,
        `design: the file is ${design.length} bytes, more than the ${this.options_.maxDesignBytes} allowed`,
        "E_IMAGE_TOO_LARGE"
      )
    }
    const template = this.templateArg_(opts.template_id)
    return mapEngineErrors(() =>
      preflight(design, {
        preset: opts.preset,
        color: opts.color,
        template,
        maxBytes: this.options_.maxDesignBytes,
      })
    )
  }

  /**
   * Creates a job after a full preflight (effective DPI and warnings for the answer);
   * the engine decodes the whole design again at submit, so a design that does not
   * decode is refused and no job exists.
   */
  async createRenderJob(
    input: CreateRenderJobInput
  ): Promise<{ job: RenderJob; preflight: PreflightReport | null }> {
    let report: PreflightReport | null = null
    if (typeof input.design === "string") {
      this.checkDesignUrl(input.design)
      // The template must still be one this store knows (checked up front, like uploads).
      this.templateArg_(input.template_id)
    } else {
      report = await this.preflightDesign(input.design, input)
    }
    const engine = await this.getEngine()
    const job = await mapEngineErrors(() =>
      engine.createJob({
        design: input.design,
        product_id: input.product_id,
        preset: input.preset,
        ...(input.variant_id ? { variant_id: input.variant_id } : {}),
        ...(input.color ? { color: input.color } : {}),
        ...(input.template_id ? { template_id: input.template_id } : {}),
        ...(input.metadata ? { metadata: input.metadata } : {}),
      })
    )
    return { job, preflight: report }
  }

  /** Whether design URLs are accepted (the `httpDesigns` option). */
  designUrlsEnabled(): boolean {
    return this.options_.httpDesigns !== false
  }

  /** Refuses a design URL when downloads are off, or when it is not an http(s) URL. */
  checkDesignUrl(url: string): void {
    if (!this.designUrlsEnabled()) {
      throw new MedusaError(
        MedusaError.Types.INVALID_DATA,
        "design_url: this store does not download designs (the plugin option `httpDesigns` is off); upload the file as the multipart field `design` instead",
        "E_VALIDATION"
      )
    }
    if (!/^https?:\/\/[^\s]+$/i.test(url)) {
      throw new MedusaError(
        MedusaError.Types.INVALID_DATA,
        `design_url: \`${url.slice(0, 200)}\` is not an http(s) URL`,
        "E_VALIDATION"
      )
    }
  }

  async retrieveRenderJob(id: string): Promise<RenderJob> {
    const engine = await this.getEngine()
    return mapEngineErrors(() => engine.getJob(id))
  }

  /** One page of jobs, newest first. Undefined filter fields are left out. */
  async listRenderJobs(filter: {
    product_id?: string
    variant_id?: string
    statuses?: JobStatus[]
    created_after?: string
    completed_after?: string
    limit?: number
    cursor?: string
  }): Promise<{ jobs: RenderJob[]; next_cursor: string | null }> {
    const engine = await this.getEngine()
    const clean: JobFilter = {}
    for (const [k, v] of Object.entries(filter)) {
      if (v !== undefined && !(Array.isArray(v) && v.length === 0)) {
        ;(clean as Record<string, unknown>)[k] = v
      }
    }
    return mapEngineErrors(() => engine.listJobs(clean))
  }

  async retryRenderJob(id: string): Promise<RenderJob> {
    const engine = await this.getEngine()
    return mapEngineErrors(() => engine.retryJob(id))
  }

  async cancelRenderJob(id: string): Promise<RenderJob> {
    const engine = await this.getEngine()
    return mapEngineErrors(() => engine.cancelJob(id))
  }

  async deleteRenderJob(id: string): Promise<RenderJob> {
    const engine = await this.getEngine()
    return mapEngineErrors(() => engine.deleteJob(id))
  }

  /**
   * The bytes of one output of a job, read by the engine from its storage (a folder or
   * a bucket), whatever URL the output has.
   */
  async readOutput(job: RenderJob, output: RenderOutput): Promise<Buffer> {
    const engine = await this.getEngine()
    return mapEngineErrors(() => engine.readOutput(job.id, output.name))
  }

  /** Starts the workers in this process (idempotent). */
  async startWorkers(): Promise<void> {
    const engine = await this.getEngine()
    if (!this.workersRunning_) {
      // The ends of this process's jobs become Medusa events (see onProgress_).
      this.unsubscribe_ ??= engine.onProgress((e) => this.onProgress_(e))
      engine.start()
      this.workersRunning_ = true
      this.logger_.info(
        `render-engine: workers started (concurrency ${this.options_.concurrency}, renderer ${this.options_.renderer})`
      )
    }
  }

  /** Stops the workers: running jobs get the grace period, the rest go back to the queue. */
  async stopWorkers(graceMs = this.options_.shutdownGraceMs): Promise<void> {
    if (!this.engine_ || !this.workersRunning_) return
    this.workersRunning_ = false
    const summary = await this.engine_.stop(graceMs)
    // Completions during the grace period were still heard; now this service's
    // listener goes (the engine is shared by the process and stays open).
    this.unsubscribe_?.()
    this.unsubscribe_ = undefined
    this.logger_.info(
      `render-engine: workers stopped (completed ${summary.completed.length}, released ${summary.released.length})`
    )
  }

  __hooks = {
    onApplicationStart: async () => {
      if (!this.workersEnabled()) return
      try {
        await this.startWorkers()
      } catch (e) {
        const code = isEngineError(e) ? ` ${e.code}` : ""
        this.logger_.error(`render-engine: cannot start the workers:${code} ${(e as Error).message}`)
      }
    },
    onApplicationPrepareShutdown: async () => {
      try {
        await this.stopWorkers()
      } catch (e) {
        this.logger_.error(`render-engine: stopping the workers failed: ${(e as Error).message}`)
      }
    },
  }
}
