import type { MedusaContainer } from "@medusajs/framework/types"
import { RENDER_ENGINE_MODULE } from "../modules/render-engine"
import type RenderEngineModuleService from "../modules/render-engine/service"

/**
 * Creates render-engine's job tables (in the job database the plugin options name:
 * Medusa's own `DATABASE_URL`, schema `render_engine`, by default), once, in
 * `medusa db:migrate`. The engine never migrates when the store opens it.
 *
 * Medusa runs each migration script once. A plugin release whose render-engine brings
 * new job-table migrations adds a script like this one under a new name (the engine's
 * migrate is idempotent), so `medusa db:migrate` after an upgrade applies them.
 */
export default async function migrateRenderEngineJobTables({
  container,
}: {
  container: MedusaContainer
}): Promise<void> {
  const service = container.resolve<RenderEngineModuleService>(RENDER_ENGINE_MODULE)
  const logger = container.resolve("logger")
  const { applied, version } = await service.migrateEngine()
  logger.info(
    `render-engine: job tables at version ${version}` +
      (applied.length ? ` (applied ${applied.join(", ")})` : " (already current)")
  )
}
