import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import { MedusaError } from "@medusajs/framework/utils"
import type { RenderJob } from "render-engine"
import type { AdminCreateRenderJobType, AdminListRenderJobsType } from "./validators"
import { present, renderEngineService, respondWithJobs } from "./helpers"
import { colorTargets, productForColors, type ColorTarget } from "../../../lib/colors"

/**
 * Creates render jobs. The design comes as a multipart upload (`design`) or, when the
 * plugin option `httpDesigns` allows it, as a JSON `design_url`. One job by default;
 * `color_value` renders one colour of the product's colour option and `every_color`
 * one job per colour, each attached to that colour's variants when it completes.
 * 201 `{ render_job }` for one job, `{ render_jobs }` for every colour.
 */
export const POST = async (
  req: AuthenticatedMedusaRequest<AdminCreateRenderJobType>,
  res: MedusaResponse
) => {
  const service = renderEngineService(req.scope)
  const body = req.validatedBody
  const file = (req as any).file as { buffer: Buffer; size: number; originalname?: string } | undefined
  let design: Buffer | string
  if (file && body.design_url) {
    throw new MedusaError(
      MedusaError.Types.INVALID_DATA,
      "design: send either the file `design` or `design_url`, not both",
      "E_VALIDATION"
    )
  } else if (body.design_url) {
    service.checkDesignUrl(body.design_url)
    design = body.design_url
  } else if (file && file.size) {
    design = file.buffer
  } else {
    throw new MedusaError(
      MedusaError.Types.INVALID_DATA,
      `design: attach the design file as the multipart field \`design\` (PNG, JPEG, WebP or SVG)${
        service.designUrlsEnabled() ? " or give its http(s) URL as `design_url`" : ""
      }`,
      "E_VALIDATION"
    )
  }
  const designName = file?.originalname ?? (body.design_url ? body.design_url.split("?")[0].split("/").pop() || null : null)
  const base = {
    design,
    product_id: body.product_id,
    preset: body.preset,
    template_id: body.template_id,
  }
  const metadata = { created_by: req.auth_context?.actor_id ?? null, design_name: designName }

  if (!body.every_color && !body.color_value) {
    const { job } = await service.createRenderJob({
      ...base,
      variant_id: body.variant_id,
      color: body.color,
      metadata,
    })
    const [render_job] = await present(service, [job])
    res.status(201).json({ render_job })
    return
  }

  const product = await productForColors(req.scope, body.product_id)
  const targets = colorTargets(product, body.every_color ? { every: true } : { value: body.color_value! })
  const jobs: RenderJob[] = []
  try {
    for (const t of targets) {
      const { job } = await service.createRenderJob({
        ...base,
        variant_id: t.variant_ids[0],
        color: t.hex,
        metadata: { ...metadata, color_option: colorOptionMeta(t) },
      })
      jobs.push(job)
    }
  } catch (e) {
    // All or nothing: the colours created before the failure are withdrawn.
    for (const j of jobs) {
      await service.cancelRenderJob(j.id).catch(() => {})
      await service.deleteRenderJob(j.id).catch(() => {})
    }
    throw e
  }
  const render_jobs = await present(service, jobs)
  if (body.every_color) {
    res.status(201).json({ render_jobs })
  } else {
    res.status(201).json({ render_job: render_jobs[0] })
  }
}

/** What a job keeps of its colour (`metadata.color_option`); its variants are looked up when attaching. */
function colorOptionMeta(t: ColorTarget) {
  return { option_id: t.option_id, title: t.option_title, value: t.value, hex: t.hex }
}

/** Lists jobs, newest first: `product_id`, `variant_id`, `status` (one or several), `limit`, `cursor`. */
export const GET = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  const q = req.validatedQuery as unknown as AdminListRenderJobsType
  await respondWithJobs(req.scope, res, q)
}
