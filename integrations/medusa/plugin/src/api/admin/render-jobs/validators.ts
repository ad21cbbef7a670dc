import { z } from "@medusajs/framework/zod"

export const PRESETS = ["chest-large", "dead-center-medium", "back-small"] as const
export const STATUSES = ["pending", "compositing", "rendering", "completed", "failed", "cancelled"] as const

const Color = z.string().regex(/^#[0-9a-fA-F]{6}$/, "use a colour as #rrggbb")
const Id = z.string().trim().min(1).max(200)

/** The design's placement, shared by preflight and job creation (multipart text fields). */
export const PlacementSchema = z.object({
  preset: z.enum(PRESETS).default("chest-large"),
  color: Color.optional(),
  template_id: Id.optional(),
})

/** A boolean from JSON, or `"true"`/`"false"` from a multipart field. */
const Flag = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")])

export const AdminCreateRenderJob = PlacementSchema.extend({
  product_id: Id,
  variant_id: Id.optional(),
  /** One job per value of the product's colour option (Color/Colour). */
  every_color: Flag.default(false),
  /** One value of the product's colour option ("Navy"): its garment colour and variants. */
  color_value: z.string().trim().min(1).max(200).optional(),
  /** Instead of an upload: a design the engine downloads (plugin option `httpDesigns`). */
  design_url: z.string().trim().url("design_url: use an http(s) URL").max(4096).optional(),
})
  .refine((b) => !(b.every_color && b.color_value), {
    message: "give either every_color or color_value, not both",
    path: ["color_value"],
  })
  .refine((b) => !(b.color && (b.every_color || b.color_value)), {
    message: "color is taken from the colour option with every_color or color_value; leave it out",
    path: ["color"],
  })
  .refine((b) => !(b.variant_id && (b.every_color || b.color_value)), {
    message: "the variants come from the colour option with every_color or color_value; leave variant_id out",
    path: ["variant_id"],
  })
export type AdminCreateRenderJobType = z.infer<typeof AdminCreateRenderJob>

export const AdminPreflightRenderJob = PlacementSchema
export type AdminPreflightRenderJobType = z.infer<typeof AdminPreflightRenderJob>

const StatusList = z
  .union([z.enum(STATUSES), z.array(z.enum(STATUSES))])
  .transform((s) => (Array.isArray(s) ? s : [s]))

export const AdminListRenderJobs = z.object({
  product_id: Id.optional(),
  variant_id: Id.optional(),
  status: StatusList.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(500).optional(),
})
export type AdminListRenderJobsType = z.infer<typeof AdminListRenderJobs>

export const AdminListProductRenderJobs = AdminListRenderJobs.omit({ product_id: true })
export type AdminListProductRenderJobsType = z.infer<typeof AdminListProductRenderJobs>
