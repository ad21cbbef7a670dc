import { model } from "@medusajs/framework/utils"

/**
 * The durable record that a render job's outputs were attached to its product.
 * One row per job (unique): the attach workflow checks it under the product lock,
 * so a completion is applied once, whichever process or sweep sees it first.
 */
export const RenderJobAttachment = model
  .define("render_job_attachment", {
    id: model.id({ prefix: "rjatt" }).primaryKey(),
    job_id: model.text(),
    product_id: model.text(),
    /** The product image URLs added (front first). */
    image_urls: model.json(),
    /** Every uploaded output: { name, kind, url, file_id, content_type, size, access }. */
    files: model.json(),
    /** The variants the stills were linked to as variant images (a colour's variants). */
    variant_ids: model.json().nullable(),
    /** Whether this job's front still became the product thumbnail. */
    set_thumbnail: model.boolean().default(false),
  })
  .indexes([
    { on: ["job_id"], unique: true, where: "deleted_at IS NULL" },
    { on: ["product_id"], where: "deleted_at IS NULL" },
  ])

export default RenderJobAttachment
