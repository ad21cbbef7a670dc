// Memory of a running store over many render jobs: warms up with a few jobs, then
// submits N more (a few in flight at a time, each a distinct design so no work is
// reused), waits until each one's media are attached, and samples the server process's
// RSS (/proc/<pid>/status) every 250 ms throughout. Prints RSS after warm-up, the peak,
// the RSS at the end (after a short settle) and the growth.
// Usage: STORE_URL=http://127.0.0.1:9000 node scripts/memory.mjs [--pid PID] [--jobs 100] [--warmup 10] [--inflight 4]
// Without --pid it looks for the one `medusa ... start` process on this machine.
import { readFileSync, readdirSync } from "node:fs"
import { call, demoProductId, designForm, login, makePng } from "../tests/helpers.mjs"

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), [])
)
const jobs = Number(args.jobs ?? 100)
const warmup = Number(args.warmup ?? 10)
const inflight = Number(args.inflight ?? 4)

function findServer() {
  const found = []
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0")
      if (cmd.some((c) => c.endsWith("@medusajs/cli/cli.js")) && cmd.includes("start")) found.push(Number(d))
    } catch {}
  }
  if (found.length !== 1) throw new Error(`found ${found.length} medusa start processes (${found}); pass --pid`)
  return found[0]
}
const pid = Number(args.pid ?? process.env.STORE_PID ?? findServer())

const rssMb = () => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return Number(m[1]) / 1024
}

const token = await login()
const productId = await demoProductId(token)
let seq = 0

async function oneJob() {
  const design = makePng(1200, 1200, Math.random() * 1e6 + seq++)
  const created = await call("/admin/render-jobs", {
    method: "POST",
    token,
    form: designForm(design, { product_id: productId, preset: "chest-large" }),
  })
  if (created.status !== 201) throw new Error(`POST: ${created.status} ${JSON.stringify(created.body)}`)
  const id = created.body.render_job.id
  for (;;) {
    const { body } = await call(`/admin/render-jobs/${id}`, { token })
    const j = body.render_job
    if (j.status === "failed" || j.status === "cancelled") throw new Error(`${id} ${j.status}: ${j.error_message}`)
    if (j.status === "completed" && j.attachment) return
    await new Promise((r) => setTimeout(r, 200))
  }
}

async function run(n) {
  let next = 0
  const worker = async () => {
    while (next < n) {
      next++
      await oneJob()
    }
  }
  await Promise.all(Array.from({ length: Math.min(inflight, n) }, worker))
}

const samples = []
const sampler = setInterval(() => samples.push(rssMb()), 250)
const t0 = Date.now()
console.log(`server pid ${pid}: RSS ${rssMb().toFixed(0)} MB before warm-up`)
await run(warmup)
await new Promise((r) => setTimeout(r, 3000))
const base = rssMb()
samples.length = 0
console.log(`after ${warmup} warm-up jobs: RSS ${base.toFixed(0)} MB`)
const t1 = Date.now()
for (let done = 0; done < jobs; done += 10) {
  await run(Math.min(10, jobs - done))
  console.log(`  ${done + Math.min(10, jobs - done)} jobs: RSS ${rssMb().toFixed(0)} MB`)
}
await new Promise((r) => setTimeout(r, 5000))
clearInterval(sampler)
const end = rssMb()
const peak = Math.max(...samples, end)
console.log(
  `${jobs} jobs in ${((Date.now() - t1) / 1000).toFixed(0)} s (warm-up ${((t1 - t0) / 1000).toFixed(0)} s): ` +
    `RSS after warm-up ${base.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, end ${end.toFixed(0)} MB, ` +
    `growth ${(end - base).toFixed(0)} MB (peak ${(peak - base).toFixed(0)} MB)`
)
