import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import { MedusaError } from "@medusajs/framework/utils"
import { colorOptionOf, colorTargets, productForColors } from "../../../../../lib/colors"

/**
 * The product's colour option (titled Color/Colour) as the widget offers it: each
 * value with its garment colour and how many variants have it. `option` is null when
 * the product has none; `problem` says why "every colour" cannot run (a value without
 * a known garment colour).
 */
export const GET = async (req: AuthenticatedMedusaRequest, res: MedusaResponse) => {
  const product = await productForColors(req.scope, req.params.id)
  const option = colorOptionOf(product)
  if (!option) {
    res.json({ option: null, colors: [], problem: null })
    return
  }
  try {
    const targets = colorTargets(product, { every: true })
    res.json({
      option: { id: option.id, title: option.title },
      colors: targets.map((t) => ({ value: t.value, hex: t.hex, variant_count: t.variant_ids.length })),
      problem: null,
    })
  } catch (e) {
    if (!(e instanceof MedusaError)) throw e
    res.json({ option: { id: option.id, title: option.title }, colors: [], problem: e.message })
  }
}
