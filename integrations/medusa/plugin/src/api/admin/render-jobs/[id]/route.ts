import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import { present, renderEngineService } from "../helpers"

export const GET = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  const service = renderEngineService(req.scope)
  const job = await service.retrieveRenderJob(req.params.id)
  const [render_job] = await present(service, [job])
  res.json({ render_job })
}

/** Soft-deletes the job (kept for audit); media already attached stay on the product. */
export const DELETE = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  const service = renderEngineService(req.scope)
  const job = await service.deleteRenderJob(req.params.id)
  res.json({ id: job.id, object: "render_job", deleted: true })
}
