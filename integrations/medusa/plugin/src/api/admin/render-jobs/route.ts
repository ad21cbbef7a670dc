import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import type { AdminCreateRenderJobType, AdminListRenderJobsType } from "./validators"
import { designOf, present, renderEngineService, respondWithJobs } from "./helpers"

/** Creates a render job from a multipart upload (`design` + placement fields). */
export const POST = async (
  req: AuthenticatedMedusaRequest<AdminCreateRenderJobType>,
  res: MedusaResponse
) => {
  const service = renderEngineService(req.scope)
  const body = req.validatedBody
  const design = designOf(req as any)
  const { job } = await service.createRenderJob({
    design,
    product_id: body.product_id,
    variant_id: body.variant_id,
    preset: body.preset,
    color: body.color,
    template_id: body.template_id,
    metadata: { created_by: req.auth_context?.actor_id ?? null, design_name: (req as any).file?.originalname ?? null },
  })
  const [render_job] = await present(service, [job])
  res.status(201).json({ render_job })
}

/** Lists jobs, newest first: `product_id`, `variant_id`, `status` (one or several), `limit`, `cursor`. */
export const GET = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  const q = req.validatedQuery as unknown as AdminListRenderJobsType
  await respondWithJobs(req.scope, res, q)
}
