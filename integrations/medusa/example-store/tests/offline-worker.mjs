// A render worker outside the store (what `workers on other machines` means): opens the
// same job database and data folder as the store, creates jobs for a product directly
// through render-engine and runs them to their end before the store starts. The store
// never hears of these completions: only its sweep can attach them.
// Usage: node offline-worker.mjs <product id> <output json>
// Env: DATABASE_URL (the store's), RENDER_ENGINE_DATA.
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { RenderEngine } from "render-engine"
import { makePng } from "./helpers.mjs"

const [productId, out] = process.argv.slice(2)
const url = new URL(process.env.DATABASE_URL)
url.searchParams.set("schema", "render_engine")
const engine = await RenderEngine.open({
  database: url.toString(),
  dataDir: process.env.RENDER_ENGINE_DATA,
  concurrency: 2,
  pollMs: 50,
  workerName: "offline-test-worker",
})
// Completed elsewhere: to be attached by the sweep.
const good = await engine.createJob({ product_id: productId, preset: "chest-large", color: "#1e3a8a", design: makePng(900, 900, 4.2) })
// Designs that break after submit (the engine decodes the whole design at submit, so a
// broken one is refused there): good designs whose stored copies are then cut off,
// as a disk or bucket fault would. The job fails for good.
async function breaksAfterSubmit(preset, hue) {
  const job = await engine.createJob({ product_id: productId, preset, design: makePng(400, 400, hue) })
  const stored = fileURLToPath(job.design_file_url)
  writeFileSync(stored, readFileSync(stored).subarray(0, 2000))
  return job
}
const bad = await breaksAfterSubmit("back-small", 1.1)
// Another broken one, retried once here: failed on attempt 2 with two attempts' errors
// (what the widget shows as an earlier attempt).
const twice = await breaksAfterSubmit("dead-center-medium", 2.3)
engine.start()
const deadline = Date.now() + 120_000
let a, b, c
let retried = false
while (Date.now() < deadline) {
  a = await engine.getJob(good.id)
  b = await engine.getJob(bad.id)
  c = await engine.getJob(twice.id)
  if (c.status === "failed" && !retried) {
    await engine.retryJob(twice.id)
    retried = true
    continue
  }
  if (a.status === "completed" && b.status === "failed" && retried && c.status === "failed") break
  await new Promise((r) => setTimeout(r, 100))
}
await engine.stop(5000)
if (a.status !== "completed" || b.status !== "failed" || c.status !== "failed" || c.attempt !== 2) {
  console.error(
    `offline worker: expected completed/failed/failed twice, got ${a.status}/${b.status}/${c.status} attempt ${c.attempt} (${b.error_code} ${b.error_message})`
  )
  process.exit(1)
}
writeFileSync(out, JSON.stringify({ completed: a.id, failed: b.id, failed_code: b.error_code, failed_twice: c.id }))
console.log(`offline worker: ${a.id} completed, ${b.id} failed (${b.error_code}), ${c.id} failed twice`)
