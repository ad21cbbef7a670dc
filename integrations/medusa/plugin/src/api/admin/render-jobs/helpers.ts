import { MedusaError } from "@medusajs/framework/utils"
import type { MedusaContainer } from "@medusajs/framework/types"
import type { RenderJob } from "render-engine"
import type { AdminListRenderJobsType } from "./validators"
import { RENDER_ENGINE_MODULE } from "../../../modules/render-engine"
import type RenderEngineModuleService from "../../../modules/render-engine/service"
import { outputsOf, preflightOf } from "../../../modules/render-engine/service"

export function renderEngineService(scope: MedusaContainer): RenderEngineModuleService {
  return scope.resolve<RenderEngineModuleService>(RENDER_ENGINE_MODULE)
}

/** The uploaded design of a multipart request, or a 400 naming the field. */
export function designOf(req: { file?: { buffer: Buffer; size: number } }): Buffer {
  if (!req.file || !req.file.size) {
    throw new MedusaError(
      MedusaError.Types.INVALID_DATA,
      "design: attach the design file as the multipart field `design` (PNG, JPEG, WebP or SVG)",
      "E_VALIDATION"
    )
  }
  return req.file.buffer
}

type AttachmentFile = {
  name: string
  kind: string
  url: string
  file_id: string
  content_type: string
  size: number
  access: "public" | "private"
}

/**
 * A job as the admin API answers it: the engine's record, the outputs as a typed
 * list (with the store's own URL once attached), the preflight report, the progress
 * its worker recorded, earlier attempts' errors, and whether the media were attached.
 * The engine's internal file locations are not exposed.
 */
export async function present(service: RenderEngineModuleService, jobs: RenderJob[]) {
  const ids = jobs.map((j) => j.id)
  const attachments = ids.length
    ? await service.listRenderJobAttachments({ job_id: ids })
    : []
  const byJob = new Map(attachments.map((a) => [a.job_id, a]))
  return jobs.map((job) => {
    const att = byJob.get(job.id)
    const files = (att?.files ?? []) as unknown as AttachmentFile[]
    const outputs = outputsOf(job).map((o) => {
      const f = files.find((x) => x.name === o.name)
      return {
        name: o.name,
        kind: o.kind,
        content_type: o.content_type,
        size: o.size,
        // Private files (the print file) only through the admin download route.
        url: f ? (f.access === "private" ? `/admin/render-jobs/${job.id}/outputs/${o.name}` : f.url) : null,
        access: f ? f.access : null,
      }
    })
    const { design_file_url, composited_file_url, rendered_image_url, animation_url, ...rest } = job
    const metadata = { ...(job.metadata ?? {}) } as Record<string, unknown>
    delete metadata.outputs
    delete metadata.preflight
    const front = outputs.find((o) => o.name === "front.png")
    const mp4 = outputs.find((o) => o.name === "turntable.mp4")
    return {
      ...rest,
      metadata,
      rendered_image_url: front?.url ?? null,
      animation_url: mp4?.url ?? null,
      outputs,
      preflight: preflightOf(job),
      // Recorded on the job by its worker, whichever process or machine runs it.
      progress: job.progress ?? null,
      errors: job.errors ?? [],
      attachment: att
        ? {
            id: att.id,
            image_urls: att.image_urls,
            variant_ids: att.variant_ids ?? [],
            set_thumbnail: att.set_thumbnail,
            created_at: att.created_at,
          }
        : null,
    }
  })
}

/** Answers a job-list route: one page of jobs, newest first, as the admin API shows them. */
export async function respondWithJobs(
  scope: MedusaContainer,
  res: { json: (body: unknown) => void },
  q: AdminListRenderJobsType
) {
  const service = renderEngineService(scope)
  const page = await service.listRenderJobs({
    product_id: q.product_id,
    variant_id: q.variant_id,
    statuses: q.status,
    limit: q.limit,
    cursor: q.cursor,
  })
  res.json({
    render_jobs: await present(service, page.jobs),
    next_cursor: page.next_cursor,
    limit: q.limit,
  })
}
