import type { SubscriberArgs, SubscriberConfig } from "@medusajs/framework"

/** A job failed for good: say so in the store's log (stores can subscribe to the event too). */
export default async function renderJobFailedHandler({
  event: { data },
  container,
}: SubscriberArgs<{ id: string }>) {
  const logger = container.resolve("logger")
  logger.warn(`render-engine: job ${data.id} failed; see GET /admin/render-jobs/${data.id}`)
}

export const config: SubscriberConfig = {
  event: "render_job.failed",
  context: { subscriberId: "render-engine-log-failed-job" },
}
