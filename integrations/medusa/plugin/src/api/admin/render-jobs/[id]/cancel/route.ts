import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import { present, renderEngineService } from "../../helpers"

/** Cancels a job: at once when pending, at the worker's next heartbeat when running. */
export const POST = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  const service = renderEngineService(req.scope)
  const job = await service.cancelRenderJob(req.params.id)
  const [render_job] = await present(service, [job])
  res.json({ render_job })
}
