import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import type { AdminListProductRenderJobsType } from "../../../render-jobs/validators"
import { present, renderEngineService } from "../../../render-jobs/helpers"

/** The product's render jobs, newest first. */
export const GET = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  const service = renderEngineService(req.scope)
  const q = req.validatedQuery as unknown as AdminListProductRenderJobsType
  const page = await service.listRenderJobs({
    product_id: req.params.id,
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
