import type { MedusaContainer } from "@medusajs/framework/types"
import { RENDER_ENGINE_MODULE } from "../modules/render-engine"
import type RenderEngineModuleService from "../modules/render-engine/service"
import { attachRenderJobMediaWorkflow } from "./attach-render-job-media"

/**
 * Attaches every job completed within the sweep window whose media are not recorded
 * yet: jobs finished by workers on other machines, or while the store restarted.
 * Returns the ids attached now and the failures (each logged; the next sweep tries again).
 */
export async function sweepCompletedRenderJobs(
  container: MedusaContainer,
  { windowHours }: { windowHours?: number } = {}
) {
  const service = container.resolve<RenderEngineModuleService>(RENDER_ENGINE_MODULE)
  const logger = container.resolve("logger")
  const hours = Math.min(windowHours ?? Infinity, service.getOptions().sweepWindowHours)
  const since = new Date(Date.now() - hours * 3600_000).toISOString()
  const attached: string[] = []
  const failed: { id: string; message: string }[] = []
  let cursor: string | undefined
  do {
    const page = await service.listRenderJobs({
      statuses: ["completed"],
      // Completed in the window, however long ago the job was created.
      completed_after: since,
      limit: 100,
      cursor,
    })
    const ids = page.jobs.map((j) => j.id)
    const done = ids.length
      ? new Set((await service.listRenderJobAttachments({ job_id: ids })).map((a) => a.job_id))
      : new Set<string>()
    for (const id of ids) {
      if (done.has(id)) continue
      try {
        const { result } = await attachRenderJobMediaWorkflow(container).run({ input: { job_id: id } })
        if (result.attached) attached.push(id)
      } catch (e) {
        failed.push({ id, message: (e as Error).message })
        logger.warn(`render-engine: sweep could not attach job ${id}: ${(e as Error).message}`)
      }
    }
    cursor = page.next_cursor ?? undefined
  } while (cursor)
  return { attached, failed }
}
