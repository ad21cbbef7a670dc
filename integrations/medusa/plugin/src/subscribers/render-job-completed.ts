import type { SubscriberArgs, SubscriberConfig } from "@medusajs/framework"
import { attachRenderJobMediaWorkflow } from "../workflows/attach-render-job-media"

/** A job completed in this process: attach its outputs to the product. */
export default async function renderJobCompletedHandler({
  event: { data },
  container,
}: SubscriberArgs<{ id: string }>) {
  const logger = container.resolve("logger")
  try {
    const { result } = await attachRenderJobMediaWorkflow(container).run({
      input: { job_id: data.id },
    })
    if (result.attached) {
      logger.info(`render-engine: job ${data.id} attached to product ${result.product_id}`)
    }
  } catch (e) {
    // The periodic sweep attaches it later; nothing was left half-done (compensation).
    logger.error(`render-engine: attaching job ${data.id} failed: ${(e as Error).message}`)
  }
}

export const config: SubscriberConfig = {
  event: "render_job.completed",
  context: { subscriberId: "render-engine-attach-completed-job" },
}
