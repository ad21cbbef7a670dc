import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import type { AdminPreflightRenderJobType } from "../validators"
import { designOf, renderEngineService } from "../helpers"

/** Checks a design against a placement (effective DPI, warnings) without creating anything. */
export const POST = async (
  req: AuthenticatedMedusaRequest<AdminPreflightRenderJobType>,
  res: MedusaResponse
) => {
  const service = renderEngineService(req.scope)
  const body = req.validatedBody
  const report = await service.preflightDesign(designOf(req as any), body)
  const dpi = Math.min(report.effective_dpi.x, report.effective_dpi.y)
  res.json({
    preflight: report,
    effective_dpi: Math.round(dpi),
    warnings: report.warnings,
  })
}
