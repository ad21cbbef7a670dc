import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import type { AdminListProductRenderJobsType } from "../../../render-jobs/validators"
import { respondWithJobs } from "../../../render-jobs/helpers"

/** The product's render jobs, newest first. */
export const GET = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  const q = req.validatedQuery as unknown as AdminListProductRenderJobsType
  await respondWithJobs(req.scope, res, { ...q, product_id: req.params.id })
}
