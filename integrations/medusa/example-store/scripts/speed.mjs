// Upload-to-media timing on a running store (the demo): N uploads one after another,
// each timed from the POST of the design to its front still listed among the product's
// images. Prints each time, the median and the maximum.
// Usage: STORE_URL=http://127.0.0.1:9000 node scripts/speed.mjs [runs=10]
import { call, demoProductId, designForm, login, makePng, productMedia } from "../tests/helpers.mjs"

const runs = Number(process.argv[2] ?? 10)
const token = await login()
const productId = await demoProductId(token)
const times = []
for (let i = 0; i < runs; i++) {
  // A distinct design each time: the engine would reuse the work of an identical one.
  const design = makePng(1800, 1800, Math.random() * 1000)
  const t0 = performance.now()
  const created = await call("/admin/render-jobs", {
    method: "POST",
    token,
    form: designForm(design, { product_id: productId, preset: "chest-large" }),
  })
  if (created.status !== 201) throw new Error(`POST: ${created.status} ${JSON.stringify(created.body)}`)
  const id = created.body.render_job.id
  for (;;) {
    const media = await productMedia(token, productId)
    if (media.images.some((img) => img.metadata?.render_job_id === id && img.metadata?.render_output === "front.png")) break
    const { body } = await call(`/admin/render-jobs/${id}`, { token })
    if (["failed", "cancelled"].includes(body.render_job.status)) throw new Error(`${id} ${body.render_job.status}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  const ms = performance.now() - t0
  times.push(ms)
  console.log(`run ${i + 1}: ${Math.round(ms)} ms (${id})`)
}
times.sort((a, b) => a - b)
const median = times.length % 2 ? times[(times.length - 1) / 2] : (times[times.length / 2 - 1] + times[times.length / 2]) / 2
console.log(`median ${Math.round(median)} ms, max ${Math.round(times[times.length - 1])} ms over ${runs} runs`)
