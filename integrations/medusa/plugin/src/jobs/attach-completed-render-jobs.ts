import type { MedusaContainer } from "@medusajs/framework/types"
import { sweepCompletedRenderJobs } from "../workflows/sweep"

/**
 * Every 15 seconds (so within 15 s of start-up too), in the process whose worker mode
 * runs scheduled jobs: attach the completed jobs whose media are missing. One run at a
 * time; a run with nothing to do is one job-store query and one attachment query.
 */
let runs = 0

export default async function attachCompletedRenderJobs(container: MedusaContainer) {
  const logger = container.resolve("logger")
  // The first run and every 40th (10 minutes) look back the whole `sweepWindowHours`;
  // the others only at jobs created in the last hour, to keep a busy store's sweep cheap.
  const full = runs++ % 40 === 0
  const { attached, failed } = await sweepCompletedRenderJobs(container, full ? {} : { windowHours: 1 })
  if (attached.length || failed.length) {
    logger.info(`render-engine sweep: attached ${attached.length}, failed ${failed.length}`)
  }
}

export const config = {
  name: "render-engine-attach-completed-jobs",
  schedule: { interval: 15_000, concurrency: "forbid" as const },
}
