import { Module } from "@medusajs/framework/utils"
import RenderEngineModuleService from "./service"

export const RENDER_ENGINE_MODULE = "renderEngine"

export default Module(RENDER_ENGINE_MODULE, {
  service: RenderEngineModuleService,
})

export * from "./service"
export { toMedusaError } from "./errors"
export type { PluginOptions } from "./options"
