// Run by `medusa exec` in the example store (integrations/medusa/scripts/test, before the
// store starts): a completed job whose attach workflow fails after everything was
// written (a `mediaAttached` hook handler that throws) leaves nothing behind: the
// uploaded files are deleted, the product's images and thumbnail are as before, no
// attachment record, the product lock released. Then the same job attaches normally.
import assert from "node:assert/strict"
import { readdirSync } from "node:fs"
import path from "node:path"
import { createProductsWorkflow, updateProductsWorkflow } from "@medusajs/medusa/core-flows"
import { attachRenderJobMediaWorkflow } from "medusa-plugin-render-engine/workflows"
import { RenderEngine } from "render-engine"
import { makePng } from "./helpers.mjs"

let failing = false
attachRenderJobMediaWorkflow.hooks.mediaAttached(async ({ attachment }) => {
  if (failing && attachment) throw new Error("injected failure after the media were attached")
})

const staticFiles = () => readdirSync(path.resolve("static")).sort()

export default async function compensation({ container }) {
  const service = container.resolve("renderEngine")
  const query = container.resolve("query")
  const product = async (id) =>
    (await query.graph({ entity: "product", fields: ["id", "thumbnail", "images.url", "images.metadata"], filters: { id } })).data[0]

  const { result } = await createProductsWorkflow(container).run({
    input: { products: [{ title: `Compensation tee ${Date.now()}`, options: [{ title: "Size", values: ["M"] }], variants: [{ title: "M", options: { Size: "M" }, prices: [] }] }] },
  })
  const productId = result[0].id
  await updateProductsWorkflow(container).run({
    input: { selector: { id: productId }, update: { images: [{ url: "https://example.com/own-photo.jpg" }] } },
  })
  // The job runs on an engine of its own (as a worker elsewhere would): the module's
  // subscriber in this process hears nothing, so only this script attaches it.
  const options = service.getOptions()
  const worker = await RenderEngine.open({ database: options.jobDatabaseUrl, dataDir: options.dataDir, pollMs: 50, workerName: "compensation-test" })
  const job = await worker.createJob({ design: makePng(900, 900, Math.random() * 100), product_id: productId, preset: "chest-large" })
  worker.start()
  const deadline = Date.now() + 120_000
  while ((await worker.getJob(job.id)).status !== "completed") {
    if (Date.now() > deadline) throw new Error(`job ${job.id} did not complete`)
    await new Promise((r) => setTimeout(r, 50))
  }
  await worker.stop(5000)

  const filesBefore = staticFiles()
  const productBefore = await product(productId)
  failing = true
  await assert.rejects(attachRenderJobMediaWorkflow(container).run({ input: { job_id: job.id } }), (e) => {
    // The workflow engine rejects with the step's error or a plain object carrying its message.
    const message = e?.message ?? JSON.stringify(e)
    assert.match(message, /injected failure/)
    return true
  })
  failing = false
  assert.deepEqual(staticFiles(), filesBefore, "every uploaded file was deleted")
  const productAfter = await product(productId)
  assert.deepEqual(productAfter.images.map((i) => i.url), productBefore.images.map((i) => i.url), "images restored")
  assert.equal(productAfter.thumbnail, productBefore.thumbnail, "thumbnail restored")
  assert.deepEqual(await service.listRenderJobAttachments({ job_id: job.id }), [], "no attachment record")

  // The lock was released: the same job now attaches (it would wait 120 s otherwise).
  const t0 = Date.now()
  const { result: ok } = await attachRenderJobMediaWorkflow(container).run({ input: { job_id: job.id } })
  assert.equal(ok.attached, true)
  assert.ok(Date.now() - t0 < 30_000, "the lock was free")
  const attachedProduct = await product(productId)
  assert.equal(attachedProduct.images.filter((i) => i.metadata?.render_job_id === job.id).length, 3)
  assert.equal(staticFiles().length, filesBefore.length + 7, "seven outputs uploaded this time")
  console.log(`compensation test: ok (job ${job.id})`)
}
