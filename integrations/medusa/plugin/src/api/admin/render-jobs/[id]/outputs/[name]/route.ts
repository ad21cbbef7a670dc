import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import { MedusaError, Modules } from "@medusajs/framework/utils"
import { renderEngineService } from "../../../helpers"

/**
 * Downloads one attached output through the File Module (whatever provider the store
 * uses), for admins only: the way to the private print file.
 */
export const GET = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  const service = renderEngineService(req.scope)
  const job = await service.retrieveRenderJob(req.params.id)
  const [att] = await service.listRenderJobAttachments({ job_id: job.id })
  const files = (att?.files ?? []) as unknown as Array<{ name: string; file_id: string; content_type: string }>
  const file = files.find((f) => f.name === req.params.name)
  if (!file) {
    throw new MedusaError(
      MedusaError.Types.NOT_FOUND,
      `render job ${job.id} has no attached output \`${req.params.name}\`${att ? "" : " (its media are not attached yet)"}`,
      "E_NOT_FOUND"
    )
  }
  const fileModule = req.scope.resolve(Modules.FILE)
  const bytes = await fileModule.getAsBuffer(file.file_id)
  res.setHeader("Content-Type", file.content_type)
  res.setHeader("Content-Disposition", `attachment; filename="${job.id}-${file.name}"`)
  res.status(200).send(bytes)
}
