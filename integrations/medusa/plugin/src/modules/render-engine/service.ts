import { readFile } from "node:fs/promises"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { MedusaError, MedusaService } from "@medusajs/framework/utils"
import type { Logger } from "@medusajs/framework/types"
import { RenderEngine, listTemplates, preflight } from "render-engine"
import type {
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

export type JobProgress = {
  stage: string
  percent: number
  message: string
  eta_ms: number | null
  attempt: number
  at: string
}

export type CreateRenderJobInput = {
  design: Buffer
  product_id: string
  variant_id?: string
  preset: string
  color?: string
  template_id?: string
  metadata?: Record<string, unknown>
}

const STILL_ORDER = ["front.png", "three-quarter.png", "back.png"]

function kindOf(name: string): OutputKind {
  if (STILL_ORDER.includes(name)) return "still"
  if (name.startsWith("turntable.")) return "animation"
  if (name === "print.png") return "print_file"
  if (name === "atlas.png") return "texture"
  return "other"
}

/** The typed outputs of a job (from the engine's `metadata.outputs`), stills front first. */
export function outputsOf(job: RenderJob): RenderOutput[] {
  const raw = (job.metadata as { outputs?: unknown } | null)?.outputs
  if (!Array.isArray(raw)) return []
  const outputs: RenderOutput[] = []
  for (const o of raw) {
    if (!o || typeof o !== "object") continue
    const { name, url, content_type, size } = o as Record<string, unknown>
    if (typeof name !== "string" || typeof url !== "string") continue
    outputs.push({
      name,
      kind: kindOf(name),
      url,
      content_type: typeof content_type === "string" ? content_type : "application/octet-stream",
      size: typeof size === "number" ? size : 0,
    })
  }
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
  protected readonly progress_ = new Map<string, JobProgress>()
  protected engine_?: RenderEngine
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

  /** The process's engine, opened (and its job tables migrated) on first use. */
  async getEngine(): Promise<RenderEngine> {
    if (this.engine_) return this.engine_
    const o = this.options_
    const key = `${o.jobDatabaseUrl}\u0000${o.dataDir}`
    let opening: Promise<RenderEngine> | undefined = engines.get(key)
    if (!opening) {
      const fresh = RenderEngine.open({
        database: o.jobDatabaseUrl,
        dataDir: o.dataDir,
        publicBaseUrl: o.publicBaseUrl,
        renderer: o.renderer,
        concurrency: o.concurrency,
        jobTimeoutMs: o.jobTimeoutMs,
        maxAttempts: o.maxAttempts,
        pollMs: o.pollMs,
        maxDesignBytes: o.maxDesignBytes,
        templates: o.templates,
        outputs: o.outputs,
      })
      engines.set(key, fresh)
      fresh.catch(() => engines.delete(key))
      opening = fresh
    }
    try {
      const engine = await opening
      if (!this.engine_) {
        this.engine_ = engine
        engine.onProgress((e) => this.onProgress_(e))
      }
      return engine
    } catch (e) {
      throw toMedusaError(e)
    }
  }

  protected onProgress_(e: ProgressEvent): void {
    this.progress_.set(e.job_id, {
      stage: e.stage,
      percent: e.percent,
      message: e.message,
      eta_ms: e.eta_ms ?? null,
      attempt: e.attempt,
      at: new Date().toISOString(),
    })
    if (this.progress_.size > 5000) {
      const oldest = this.progress_.keys().next().value
      if (oldest) this.progress_.delete(oldest)
    }
    if (e.stage === "completed" || (e.stage === "failed" && e.status === "failed")) {
      const name = e.stage === "completed" ? RENDER_JOB_COMPLETED : RENDER_JOB_FAILED
      this.eventBus_
        ?.emit({ name, data: { id: e.job_id } })
        .catch((err) => this.logger_.error(`render-engine: cannot emit ${name} for ${e.job_id}: ${err}`))
    }
  }

  /** The last progress event this process saw for a job (workers in this process only). */
  progressOf(id: string): JobProgress | null {
    return this.progress_.get(id) ?? null
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
   * Creates a job after a full preflight (the engine checks only the header at
   * submit), so a design that does not decode is refused here and no job exists.
   */
  async createRenderJob(
    input: CreateRenderJobInput
  ): Promise<{ job: RenderJob; preflight: PreflightReport }> {
    const report = await this.preflightDesign(input.design, input)
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
   * The bytes of one output of a job, read from the data folder (the engine keeps the
   * outputs of a job's attempt under `jobs/<id>/<attempt>/<name>`), or from its `file://` URL.
   */
  async readOutput(job: RenderJob, output: RenderOutput): Promise<Buffer> {
    const local = path.join(this.options_.dataDir, "jobs", job.id, String(job.attempt), output.name)
    try {
      return await readFile(local)
    } catch (e) {
      if (output.url.startsWith("file://")) {
        return readFile(fileURLToPath(output.url))
      }
      throw new MedusaError(
        MedusaError.Types.UNEXPECTED_STATE,
        `render job ${job.id}: output ${output.name} is not in the data folder ${this.options_.dataDir} (${(e as Error).message})`,
        "E_STORAGE"
      )
    }
  }

  /** Starts the workers in this process (idempotent). */
  async startWorkers(): Promise<void> {
    const engine = await this.getEngine()
    if (!this.workersRunning_) {
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
