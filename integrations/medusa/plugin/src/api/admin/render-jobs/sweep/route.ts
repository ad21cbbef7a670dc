import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import { sweepCompletedRenderJobs } from "../../../../workflows/sweep"

/**
 * Attaches now every completed job whose media are missing (what the scheduled sweep
 * does every minute): `{ attached: [ids], failed: [{ id, message }] }`.
 */
export const POST = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  res.json(await sweepCompletedRenderJobs(req.scope))
}
