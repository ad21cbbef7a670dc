import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import { present, renderEngineService } from "../../helpers"

/** Retries a failed job with its configuration intact (400 E_INVALID_TRANSITION otherwise). */
export const POST = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  const service = renderEngineService(req.scope)
  const job = await service.retryRenderJob(req.params.id)
  const [render_job] = await present(service, [job])
  res.json({ render_job })
}
