import type { ExecArgs } from "@medusajs/framework/types"
import { ContainerRegistrationKeys, ProductStatus } from "@medusajs/framework/utils"
import { createProductsWorkflow } from "@medusajs/medusa/core-flows"

/** Seeds the demo product `demo-tee` unless it exists (idempotent). Prints its id. */
export default async function seed({ container }: ExecArgs) {
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const { data } = await query.graph({
    entity: "product",
    fields: ["id"],
    filters: { handle: "demo-tee" },
  })
  if (data.length) {
    logger.info(`seed: product demo-tee exists (${data[0].id})`)
    return
  }
  const { result } = await createProductsWorkflow(container).run({
    input: {
      products: [
        {
          title: "Demo tee",
          handle: "demo-tee",
          status: ProductStatus.PUBLISHED,
          description: "A plain t-shirt for trying render-engine.",
          options: [{ title: "Colour", values: ["White", "Navy"] }],
          variants: [
            { title: "White", options: { Colour: "White" }, prices: [{ amount: 25, currency_code: "usd" }] },
            { title: "Navy", options: { Colour: "Navy" }, prices: [{ amount: 25, currency_code: "usd" }] },
          ],
        },
      ],
    },
  })
  logger.info(`seed: created product demo-tee (${result[0].id})`)
}
