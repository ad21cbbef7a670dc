import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import { MAX_UPLOAD_BYTES } from "../../middlewares"
import { renderEngineService } from "../render-jobs/helpers"

/** The template packs and their presets (physical sizes), for the widget's pickers. */
export const GET = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  const service = renderEngineService(req.scope)
  const templates = service.listTemplates().map((t) => ({
    id: t.id,
    name: t.name,
    presets: t.presets.map((p) => ({
      id: p.id,
      panel: p.panel,
      width_in: p.widthIn,
      height_in: p.heightIn,
    })),
  }))
  res.json({
    templates,
    max_design_bytes: Math.min(service.getOptions().maxDesignBytes, MAX_UPLOAD_BYTES),
    accepted_types: ["image/png", "image/jpeg", "image/webp", "image/svg+xml"],
  })
}
