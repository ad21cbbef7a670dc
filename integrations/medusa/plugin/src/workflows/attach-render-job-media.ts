import { randomUUID } from "node:crypto"
import {
  createHook,
  createStep,
  createWorkflow,
  StepResponse,
  transform,
  when,
  WorkflowResponse,
} from "@medusajs/framework/workflows-sdk"
import { ContainerRegistrationKeys, MedusaError, Modules } from "@medusajs/framework/utils"
import {
  acquireLockStep,
  releaseLockStep,
  updateProductsWorkflow,
  uploadFilesStep,
} from "@medusajs/medusa/core-flows"
import { RENDER_ENGINE_MODULE } from "../modules/render-engine"
import type RenderEngineModuleService from "../modules/render-engine/service"
import { outputsOf } from "../modules/render-engine/service"
import { variantsWithValue, type ProductForColors } from "../lib/colors"

export type AttachRenderJobMediaInput = { job_id: string }

type ProductImage = { id: string; url: string; metadata?: Record<string, unknown> | null }

type PlannedFile = {
  name: string
  kind: string
  size: number
  content_type: string
  access: "public" | "private"
}

type Plan = {
  job_id: string
  product_id: string
  /** Nothing to do: a record says the job was attached already. */
  skip: boolean
  /** The product already shows this job's images (a record was lost): just record it. */
  record_only: boolean
  existing_image_ids: string[]
  existing_image_urls: string[]
  has_thumbnail: boolean
  thumbnail: string | null
  set_thumbnail_option: boolean
  /** The variants the stills become variant images of (a colour job: that colour's variants). */
  variant_ids: string[]
  files: PlannedFile[]
  uploads: { filename: string; mimeType: string; content: string; access: "public" | "private" }[]
}

/** The lock key for one product: every completion for it is applied one at a time. */
export const productLockKey = (productId: string) => `render-engine:product:${productId}`

const loadCompletedJobStep = createStep(
  "render-engine-load-completed-job",
  async (input: AttachRenderJobMediaInput, { container }) => {
    const service = container.resolve<RenderEngineModuleService>(RENDER_ENGINE_MODULE)
    const job = await service.retrieveRenderJob(input.job_id)
    if (job.status !== "completed") {
      throw new MedusaError(
        MedusaError.Types.NOT_ALLOWED,
        `render job ${job.id} is ${job.status}; only completed jobs are attached`,
        "E_INVALID_TRANSITION"
      )
    }
    return new StepResponse({ job_id: job.id, product_id: job.product_id })
  }
)

/**
 * Under the product lock: decides whether the job still needs attaching (a durable
 * record, or the product's images carrying this job's id), and reads the outputs.
 */
const planAttachmentStep = createStep(
  "render-engine-plan-attachment",
  async (input: { job_id: string; product_id: string }, { container }) => {
    const service = container.resolve<RenderEngineModuleService>(RENDER_ENGINE_MODULE)
    const query = container.resolve(ContainerRegistrationKeys.QUERY)
    const [record] = await service.listRenderJobAttachments({ job_id: input.job_id })
    const { data: products } = await query.graph({
      entity: "product",
      fields: [
        "id",
        "thumbnail",
        "images.id",
        "images.url",
        "images.rank",
        "images.metadata",
        "variants.id",
        "variants.options.value",
        "variants.options.option_id",
      ],
      filters: { id: input.product_id },
    })
    const product = products[0] as
      | { id: string; thumbnail: string | null; images?: ProductImage[] | null }
      | undefined
    if (!product) {
      throw new MedusaError(
        MedusaError.Types.NOT_FOUND,
        `render job ${input.job_id}: product ${input.product_id} does not exist`,
        "E_NOT_FOUND"
      )
    }
    const images = [...(product.images ?? [])].sort(
      (a, b) => ((a as any).rank ?? 0) - ((b as any).rank ?? 0)
    )
    const shown = images.some((i) => i.metadata?.render_job_id === input.job_id)
    const plan: Plan = {
      job_id: input.job_id,
      product_id: product.id,
      skip: !!record,
      record_only: !record && shown,
      existing_image_ids: images.map((i) => i.id),
      existing_image_urls: images.map((i) => i.url),
      has_thumbnail: !!product.thumbnail,
      thumbnail: product.thumbnail ?? null,
      set_thumbnail_option: service.getOptions().setThumbnail,
      variant_ids: [],
      files: [],
      uploads: [],
    }
    if (plan.skip || plan.record_only) {
      return new StepResponse(plan)
    }
    const job = await service.retrieveRenderJob(input.job_id)
    plan.variant_ids = variantsOfJob(job, product as unknown as ProductForColors)
    const outputs = outputsOf(job)
    // Read at once (files, or a bucket's URLs): the order is kept by index.
    const contents = await Promise.all(outputs.map((o) => service.readOutput(job, o)))
    for (const [i, output] of outputs.entries()) {
      const bytes = contents[i]
      const access = output.kind === "print_file" ? "private" : "public"
      plan.files.push({
        name: output.name,
        kind: output.kind,
        size: bytes.length,
        content_type: output.content_type,
        access,
      })
      plan.uploads.push({
        filename: `render-${job.id}-${output.name}`,
        mimeType: output.content_type,
        content: bytes.toString("base64"),
        access,
      })
    }
    if (!plan.files.some((f) => f.name === "front.png")) {
      throw new MedusaError(
        MedusaError.Types.UNEXPECTED_STATE,
        `render job ${job.id} is completed but has no front still among its outputs`,
        "E_STORAGE"
      )
    }
    return new StepResponse(plan)
  }
)

/**
 * The variants a job's stills belong to: a colour job's (`metadata.color_option`, the
 * product's variants with that value now), else the job's own `variant_id` if the
 * product still has it.
 */
function variantsOfJob(
  job: { variant_id: string | null; metadata: Record<string, unknown> | null },
  product: ProductForColors
): string[] {
  const color = (job.metadata as { color_option?: { option_id?: unknown; value?: unknown } } | null)?.color_option
  if (color && typeof color.option_id === "string" && typeof color.value === "string") {
    return variantsWithValue(product, color.option_id, color.value)
  }
  if (job.variant_id && (product.variants ?? []).some((v) => v.id === job.variant_id)) {
    return [job.variant_id]
  }
  return []
}

/**
 * Links the job's stills (found on the product by `metadata.render_job_id`) to the
 * variants as variant images (Medusa 2.11.2+); unlinked again on rollback.
 */
const linkVariantImagesStep = createStep(
  "render-engine-link-variant-images",
  async (input: { product_id: string; job_id: string; variant_ids: string[] }, { container }) => {
    if (!input.variant_ids.length) return new StepResponse([] as LinkPair[], [] as LinkPair[])
    const query = container.resolve(ContainerRegistrationKeys.QUERY)
    const { data } = await query.graph({
      entity: "product",
      fields: ["id", "images.id", "images.metadata"],
      filters: { id: input.product_id },
    })
    const images = ((data[0] as { images?: ProductImage[] } | undefined)?.images ?? []).filter(
      (i) => i.metadata?.render_job_id === input.job_id
    )
    const pairs: LinkPair[] = []
    for (const variant_id of input.variant_ids) {
      for (const image of images) pairs.push({ image_id: image.id, variant_id })
    }
    if (pairs.length) {
      await container.resolve(Modules.PRODUCT).addImageToVariant(pairs)
    }
    return new StepResponse(pairs, pairs)
  },
  async (pairs, { container }) => {
    if (!pairs?.length) return
    await container.resolve(Modules.PRODUCT).removeImageFromVariant(pairs)
  }
)

type LinkPair = { image_id: string; variant_id: string }

type MediaSnapshot = {
  product_id: string
  image_ids: string[]
  image_urls: string[]
  thumbnail: string | null
}

/**
 * Does nothing going forward; on rollback, puts the product's images and thumbnail back
 * as they were before this workflow (taken under the lock). `updateProductsWorkflow`
 * run as a step did not restore them when a later step failed (measured: the new
 * stills stayed on the product).
 */
const snapshotProductMediaStep = createStep(
  "render-engine-snapshot-product-media",
  async (snapshot: MediaSnapshot) => new StepResponse(undefined, snapshot),
  async (snapshot, { container }) => {
    if (!snapshot) return
    const products = container.resolve(Modules.PRODUCT)
    await products.updateProducts(snapshot.product_id, {
      images: snapshot.image_ids.map((id, i) => ({ id, url: snapshot.image_urls[i] })),
      thumbnail: snapshot.thumbnail,
    })
  }
)

type AttachmentData = {
  job_id: string
  product_id: string
  image_urls: string[]
  files: Record<string, unknown>[]
  variant_ids: string[]
  set_thumbnail: boolean
}

/** Writes the durable "attached" record; removed again if a later step fails. */
const recordAttachmentStep = createStep(
  "render-engine-record-attachment",
  async (data: AttachmentData, { container }) => {
    const service = container.resolve<RenderEngineModuleService>(RENDER_ENGINE_MODULE)
    const created = await service.createRenderJobAttachments({
      job_id: data.job_id,
      product_id: data.product_id,
      image_urls: data.image_urls as unknown as Record<string, unknown>,
      files: data.files as unknown as Record<string, unknown>,
      variant_ids: data.variant_ids as unknown as Record<string, unknown>,
      set_thumbnail: data.set_thumbnail,
    })
    return new StepResponse(created, created.id)
  },
  async (id, { container }) => {
    if (!id) return
    const service = container.resolve<RenderEngineModuleService>(RENDER_ENGINE_MODULE)
    await service.deleteRenderJobAttachments(id)
  }
)

/**
 * Turns a completed render job into product media: uploads every output through the
 * File Module (the print file private), appends the stills to the product's images
 * (front first), makes the front still the thumbnail when the product has none, links
 * the stills to the job's variants (a colour job: every variant of that colour) as
 * variant images, and records the attachment. Runs under a lock on the product owned by this job, so
 * concurrent completions never overwrite each other's images; a job already recorded
 * is not attached again. On failure, uploads are deleted, the product's images are
 * restored and the record removed.
 */
export const attachRenderJobMediaWorkflow = createWorkflow(
  "render-engine-attach-job-media",
  (input: AttachRenderJobMediaInput) => {
    const job = loadCompletedJobStep(input)
    // One object for both steps. (Spreading a transform's value inside another
    // transform yields nothing: the lock was then silently skipped, keys empty.)
    const lock = transform({ job }, ({ job }) => ({
      key: productLockKey(job.product_id),
      // One owner per run, not per job: the lock is re-entrant for its owner, so two
      // runs for the same job (the subscriber and a sweep) would otherwise both hold it
      // and attach twice (measured: the loser's rollback then removed the winner's images).
      // (A transform runs once per run; its value is kept for the release step.)
      ownerId: `render-job:${job.job_id}:${randomUUID()}`,
      timeout: 120,
      ttl: 300,
    }))
    acquireLockStep(lock)

    const plan = planAttachmentStep(job)

    when("render-engine-record-only", { plan }, ({ plan }) => plan.record_only).then(() => {
      const data = transform({ plan }, ({ plan }) => ({
        job_id: plan.job_id,
        product_id: plan.product_id,
        image_urls: [] as string[],
        files: [] as Record<string, unknown>[],
        variant_ids: [] as string[],
        set_thumbnail: false,
      }))
      recordAttachmentStep(data).config({ name: "render-engine-record-found-attachment" })
    })

    const attached = when(
      "render-engine-needs-attaching",
      { plan },
      ({ plan }) => !plan.skip && !plan.record_only
    ).then(() => {
      snapshotProductMediaStep(
        transform({ plan }, ({ plan }) => ({
          product_id: plan.product_id,
          image_ids: plan.existing_image_ids,
          image_urls: plan.existing_image_urls,
          thumbnail: plan.thumbnail,
        }))
      )
      const files = transform({ plan }, ({ plan }) => ({ files: plan.uploads }))
      const uploaded = uploadFilesStep(files)

      const update = transform({ plan, uploaded }, ({ plan, uploaded }) => {
        const stills: { url: string; metadata: Record<string, unknown> }[] = []
        plan.files.forEach((f, i) => {
          if (f.kind === "still") {
            stills.push({
              url: uploaded[i].url,
              metadata: { render_job_id: plan.job_id, render_output: f.name },
            })
          }
        })
        const setThumbnail = plan.set_thumbnail_option && !plan.has_thumbnail
        return {
          selector: { id: plan.product_id },
          update: {
            images: [
              ...plan.existing_image_ids.map((id, i) => ({ id, url: plan.existing_image_urls[i] })),
              ...stills,
            ],
            ...(setThumbnail ? { thumbnail: stills[0].url } : {}),
          },
          stills,
          setThumbnail,
        }
      })

      updateProductsWorkflow.runAsStep({
        input: transform({ update }, ({ update }) => ({
          selector: update.selector,
          update: update.update,
        })),
      })

      linkVariantImagesStep(
        transform({ plan }, ({ plan }) => ({
          product_id: plan.product_id,
          job_id: plan.job_id,
          variant_ids: plan.variant_ids,
        }))
      )

      const record = transform({ plan, uploaded, update }, ({ plan, uploaded, update }) => ({
        job_id: plan.job_id,
        product_id: plan.product_id,
        image_urls: update.stills.map((s) => s.url),
        files: plan.files.map((f, i) => ({
          ...f,
          url: uploaded[i].url,
          file_id: uploaded[i].id,
        })),
        variant_ids: plan.variant_ids,
        set_thumbnail: update.setThumbnail,
      }))
      return recordAttachmentStep(record)
    })

    // A store's own follow-up (sync to a CDN, notify someone...): runs under the lock,
    // and if its handler throws, the uploads, images and record are all rolled back.
    const mediaAttached = createHook(
      "mediaAttached",
      transform({ plan, attached }, ({ plan, attached }) => ({
        job_id: plan.job_id,
        product_id: plan.product_id,
        attachment: attached ?? null,
      }))
    )

    releaseLockStep(lock)

    return new WorkflowResponse(
      transform({ plan, attached }, ({ plan, attached }) => ({
        job_id: plan.job_id,
        product_id: plan.product_id,
        attached: !!attached,
        already_attached: plan.skip || plan.record_only,
      })),
      { hooks: [mediaAttached] }
    )
  }
)

export default attachRenderJobMediaWorkflow
