import type { MedusaContainer } from "@medusajs/framework/types"
import { sweepCompletedRenderJobs } from "../workflows/sweep"

/**
 * Every minute (and so shortly after start-up), in the worker process: attach the
 * completed jobs whose media are missing.
 */
export default async function attachCompletedRenderJobs(container: MedusaContainer) {
  const logger = container.resolve("logger")
  const { attached, failed } = await sweepCompletedRenderJobs(container)
  if (attached.length || failed.length) {
    logger.info(`render-engine sweep: attached ${attached.length}, failed ${failed.length}`)
  }
}

export const config = {
  name: "render-engine-attach-completed-jobs",
  schedule: "* * * * *",
}
