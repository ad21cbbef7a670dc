// The plugin's admin API on a running example store (started by integrations/medusa/scripts/test):
// every route, 401 without auth, 400 on bad input with its E_ code and no job created, a
// real PNG through to `completed` with its stills among the product's images and served,
// the sweep, retry and cancel, and concurrent completions for one product.
import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import {
  call,
  demoProductId,
  designForm,
  login,
  makePng,
  productMedia,
  truncatedPng,
  waitFor,
} from "./helpers.mjs"

let token
let productId
// Designs differ from run to run: the engine reuses the work of an identical earlier job.
const RUN = Math.random() * 100
const offline = process.env.OFFLINE_JOBS ? JSON.parse(readFileSync(process.env.OFFLINE_JOBS, "utf8")) : null

async function newProduct(title) {
  const { status, body } = await call("/admin/products", {
    method: "POST",
    token,
    json: {
      title: `${title} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
      options: [{ title: "Size", values: ["M"] }],
      variants: [{ title: "M", options: { Size: "M" }, prices: [{ amount: 20, currency_code: "usd" }] }],
    },
  })
  assert.equal(status, 200, JSON.stringify(body))
  return body.product.id
}

/** A product with a colour option (and a size option, so a colour has several variants). */
async function colourProduct(title, colours, sizes = ["S", "M"]) {
  const variants = []
  for (const c of colours) for (const z of sizes) variants.push({ title: `${c} / ${z}`, options: { Color: c, Size: z }, prices: [{ amount: 20, currency_code: "usd" }] })
  const { status, body } = await call("/admin/products", {
    method: "POST",
    token,
    json: {
      title: `${title} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
      options: [{ title: "Color", values: colours }, { title: "Size", values: sizes }],
      variants,
    },
  })
  assert.equal(status, 200, JSON.stringify(body))
  return body.product.id
}

/** Each variant of a product with its title and variant images. */
async function variantImages(pid) {
  const { status, body } = await call(`/admin/products/${pid}/variants?fields=id,title,*images&limit=100`, { token })
  assert.equal(status, 200, JSON.stringify(body))
  return body.variants
}

async function jobsOf(pid) {
  const { status, body } = await call(`/admin/products/${pid}/render-jobs?limit=100`, { token })
  assert.equal(status, 200, JSON.stringify(body))
  return body.render_jobs
}

async function waitAttached(id, timeoutMs = 60_000) {
  return waitFor(`job ${id} completed and attached`, async () => {
    const { body } = await call(`/admin/render-jobs/${id}`, { token })
    const job = body.render_job
    if (job.status === "failed" || job.status === "cancelled") {
      throw new Error(`job ${id} ended ${job.status}: ${job.error_code} ${job.error_message}`)
    }
    return job.status === "completed" && job.attachment ? job : null
  }, { timeoutMs, everyMs: 50 })
}

before(async () => {
  token = await login()
  productId = await demoProductId(token)
})

describe("authentication", () => {
  const routes = [
    ["GET", "/admin/render-jobs"],
    ["POST", "/admin/render-jobs"],
    ["POST", "/admin/render-jobs/preflight"],
    ["POST", "/admin/render-jobs/sweep"],
    ["GET", "/admin/render-jobs/rjob_01J00000000000000000000000"],
    ["DELETE", "/admin/render-jobs/rjob_01J00000000000000000000000"],
    ["POST", "/admin/render-jobs/rjob_01J00000000000000000000000/retry"],
    ["POST", "/admin/render-jobs/rjob_01J00000000000000000000000/cancel"],
    ["GET", "/admin/render-jobs/rjob_01J00000000000000000000000/outputs/print.png"],
    ["GET", "/admin/products/prod_x/render-jobs"],
    ["GET", "/admin/render-templates"],
  ]
  for (const [method, path] of routes) {
    test(`${method} ${path} without a session is 401`, async () => {
      const { status } = await call(path, { method })
      assert.equal(status, 401)
    })
  }
  test("a wrong password gets no token", async () => {
    await assert.rejects(login(undefined, "wrong-password"), /401/)
  })
})

describe("templates", () => {
  test("GET /admin/render-templates lists classic-tee and its presets with sizes", async () => {
    const { status, body } = await call("/admin/render-templates", { token })
    assert.equal(status, 200)
    const tee = body.templates.find((t) => t.id === "classic-tee")
    assert.ok(tee, JSON.stringify(body))
    assert.deepEqual(tee.presets.map((p) => p.id).sort(), ["back-small", "chest-large", "dead-center-medium"])
    for (const p of tee.presets) assert.ok(p.width_in > 0 && p.height_in > 0)
    assert.equal(body.max_design_bytes, 10 * 1024 * 1024)
  })
})

describe("validation: 400 with a stable code, and no job created", () => {
  let pid
  before(async () => {
    pid = await newProduct("Validation tee")
  })

  const cases = [
    ["no product_id", () => designForm(makePng(64, 64), { preset: "chest-large" }), "invalid_data", null],
    ["an unknown preset", () => designForm(makePng(64, 64), { product_id: "P", preset: "sleeve-xl" }), "invalid_data", null],
    ["a colour that is not #rrggbb", () => designForm(makePng(64, 64), { product_id: "P", color: "navy" }), "invalid_data", null],
    ["no design", () => designForm(null, { product_id: "P" }), "invalid_data", "E_VALIDATION"],
    ["a truncated PNG", () => designForm(truncatedPng(), { product_id: "P" }), "invalid_data", "E_IMAGE_DECODE"],
    ["a text file", () => designForm(Buffer.from("just some text, not an image"), { product_id: "P" }, "notes.png"), "invalid_data", "E_UNSUPPORTED_FORMAT"],
    ["an unknown template", () => designForm(makePng(64, 64), { product_id: "P", template_id: "tank-top" }), "invalid_data", "E_VALIDATION"],
    ["a file over 10 MiB", () => designForm(Buffer.concat([makePng(64, 64), Buffer.alloc(10 * 1024 * 1024 + 1)]), { product_id: "P" }), "invalid_data", "E_IMAGE_TOO_LARGE"],
  ]
  for (const [name, form, type, code] of cases) {
    test(`POST /admin/render-jobs with ${name}`, async () => {
      const f = form()
      if (f.has("product_id")) f.set("product_id", pid)
      const { status, body } = await call("/admin/render-jobs", { method: "POST", token, form: f })
      assert.equal(status, 400, JSON.stringify(body))
      assert.equal(body.type, type, JSON.stringify(body))
      if (code) assert.equal(body.code, code, JSON.stringify(body))
      assert.ok(body.message.length > 10, "the message says what to fix")
      assert.equal((await jobsOf(pid)).length, 0, "no job was created")
    })
  }

  test("GET /admin/render-jobs with a bad status or limit is 400", async () => {
    for (const q of ["status=done", "limit=0", "limit=1000"]) {
      const { status, body } = await call(`/admin/render-jobs?${q}`, { token })
      assert.equal(status, 400, `${q}: ${JSON.stringify(body)}`)
      assert.equal(body.type, "invalid_data")
    }
  })

  test("an unknown job is 404 E_NOT_FOUND on every job route", async () => {
    const id = "rjob_01J00000000000000000000000"
    for (const [method, path] of [
      ["GET", `/admin/render-jobs/${id}`],
      ["DELETE", `/admin/render-jobs/${id}`],
      ["POST", `/admin/render-jobs/${id}/retry`],
      ["POST", `/admin/render-jobs/${id}/cancel`],
    ]) {
      const { status, body } = await call(path, { method, token })
      assert.equal(status, 404, `${method} ${path}: ${JSON.stringify(body)}`)
      assert.equal(body.code, "E_NOT_FOUND")
    }
  })
})

describe("preflight", () => {
  test("answers the effective DPI and warnings and creates nothing", async () => {
    const pid = await newProduct("Preflight tee")
    const { status, body } = await call("/admin/render-jobs/preflight", {
      method: "POST",
      token,
      form: designForm(makePng(600, 600), { preset: "chest-large", color: "#ffffff" }),
    })
    assert.equal(status, 200, JSON.stringify(body))
    // 600 px over chest-large's 12 in: 50 DPI, a low-resolution warning.
    assert.equal(body.effective_dpi, 50)
    assert.ok(body.warnings.some((w) => w.code === "W_LOW_RESOLUTION"), JSON.stringify(body.warnings))
    assert.equal(body.preflight.placement, "chest-large")
    const big = await call("/admin/render-jobs/preflight", {
      method: "POST",
      token,
      form: designForm(makePng(3600, 3600, 2), { preset: "chest-large" }),
    })
    assert.equal(big.status, 200)
    assert.ok(big.body.effective_dpi >= 150, JSON.stringify(big.body.effective_dpi))
    assert.ok(!big.body.warnings.some((w) => w.code === "W_LOW_RESOLUTION"))
    const bad = await call("/admin/render-jobs/preflight", { method: "POST", token, form: designForm(truncatedPng()) })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.code, "E_IMAGE_DECODE")
    assert.equal((await jobsOf(pid)).length, 0)
  })
})

describe("a real design through to product media", () => {
  test("POST a PNG: completed, stills among the product's images (front first), files served", async () => {
    const productId = await newProduct("Render tee")
    // An image of its own first: the renders are appended after it.
    const own = await call(`/admin/products/${productId}`, {
      method: "POST",
      token,
      json: { images: [{ url: "https://example.com/own-photo.jpg" }] },
    })
    assert.equal(own.status, 200, JSON.stringify(own.body))
    const before = await productMedia(token, productId)
    assert.equal(before.images.length, 1)
    const t0 = Date.now()
    const created = await call("/admin/render-jobs", {
      method: "POST",
      token,
      form: designForm(makePng(1800, 1800, RUN + 0.7), { product_id: productId, preset: "chest-large", color: "#f5f5f4" }),
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const job0 = created.body.render_job
    assert.match(job0.id, /^rjob_/)
    assert.equal(job0.product_id, productId)
    assert.ok(["pending", "compositing", "rendering"].includes(job0.status))
    assert.equal(job0.design_file_url, undefined, "the engine's storage location is not exposed")

    const progressSeen = []
    const frontUrl = await waitFor("the front still among the product's images", async () => {
      const { body } = await call(`/admin/render-jobs/${job0.id}`, { token })
      if (body.render_job.progress) progressSeen.push(body.render_job.progress)
      const front = body.render_job.outputs.find((o) => o.name === "front.png")?.url
      if (!front) return null
      const media = await productMedia(token, productId)
      return media.images.some((i) => i.url === front) ? front : null
    }, { everyMs: 25 })
    const elapsed = Date.now() - t0
    console.log(`upload to front still among the product's images: ${elapsed} ms`)

    const job = (await call(`/admin/render-jobs/${job0.id}`, { token })).body.render_job
    assert.equal(job.status, "completed")
    // The worker's progress, recorded on the job, came through the route while it ran.
    assert.ok(progressSeen.length > 0, "progress seen while the job ran")
    for (const p of progressSeen) {
      assert.equal(typeof p.percent, "number")
      assert.ok(["claimed", "compositing", "rendering", "encoding", "storing"].includes(p.stage), p.stage)
      assert.equal(p.attempt, 1)
      assert.ok("eta_seconds" in p && "message" in p && "updated_at" in p, JSON.stringify(p))
    }
    assert.equal(job.progress, null, "no progress once completed")
    assert.deepEqual(job.errors, [])
    assert.equal(job.rendered_image_url, frontUrl)
    const names = job.outputs.map((o) => o.name)
    for (const n of ["front.png", "three-quarter.png", "back.png", "print.png", "atlas.png", "turntable.mp4", "turntable.webp"]) {
      assert.ok(names.includes(n), `${n} in ${names}`)
    }
    assert.equal(job.outputs[0].name, "front.png", "stills front first")
    assert.equal(job.outputs.find((o) => o.name === "front.png").kind, "still")
    assert.equal(job.outputs.find((o) => o.name === "turntable.mp4").kind, "animation")
    assert.equal(job.outputs.find((o) => o.name === "print.png").access, "private")
    assert.ok(job.preflight && Array.isArray(job.preflight.warnings))
    assert.equal(job.metadata.outputs, undefined)

    const media = await productMedia(token, productId)
    const added = media.images.filter((i) => i.metadata?.render_job_id === job.id)
    assert.deepEqual(added.map((i) => i.metadata.render_output), ["front.png", "three-quarter.png", "back.png"])
    assert.deepEqual(
      media.images.slice(0, before.images.length).map((i) => i.url),
      before.images.map((i) => i.url),
      "existing images kept, in order, before the new ones"
    )
    if (!before.thumbnail) assert.equal(media.thumbnail, frontUrl, "thumbnail set when there was none")
    else assert.equal(media.thumbnail, before.thumbnail, "an existing thumbnail is kept")

    const png = await fetch(frontUrl)
    assert.equal(png.status, 200)
    const bytes = Buffer.from(await png.arrayBuffer())
    assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], "the served front still is a PNG")
    const mp4 = await fetch(job.animation_url)
    assert.equal(mp4.status, 200)

    // The private print file, through the admin download route only.
    const printPath = job.outputs.find((o) => o.name === "print.png").url
    assert.match(printPath, /^\/admin\/render-jobs\/.+\/outputs\/print\.png$/)
    const print = await call(printPath, { token, raw: true })
    assert.equal(print.status, 200)
    assert.equal(print.headers.get("content-type"), "image/png")
    assert.deepEqual([...print.body.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47])
    assert.equal((await call(printPath, { raw: true })).status, 401)

    // Listed with filters and paging.
    const list = await call(`/admin/render-jobs?product_id=${productId}&status=completed&limit=1`, { token })
    assert.equal(list.status, 200)
    assert.equal(list.body.render_jobs.length, 1)
    assert.ok(list.body.render_jobs.every((j) => j.status === "completed" && j.product_id === productId))

    // Never twice: the sweep finds nothing to do for it.
    const sweep = await call("/admin/render-jobs/sweep", { method: "POST", token })
    assert.equal(sweep.status, 200)
    assert.ok(!sweep.body.attached.includes(job.id))
    const again = await productMedia(token, productId)
    assert.equal(again.images.filter((i) => i.metadata?.render_job_id === job.id).length, 3)
  })
})

describe("jobs completed outside the store (offline worker)", { skip: !offline && "OFFLINE_JOBS not set" }, () => {
  test("the sweep attaches a job completed elsewhere, once", async () => {
    const id = offline.completed
    const before = (await call(`/admin/render-jobs/${id}`, { token })).body.render_job
    assert.equal(before.status, "completed")
    // The scheduled sweep (every 15 s from start-up) attaches it without being asked.
    const job = await waitAttached(id, 45_000)
    const media = await productMedia(token, job.product_id)
    const mine = media.images.filter((i) => i.metadata?.render_job_id === id)
    assert.equal(mine.length, 3)
    // Asked again: nothing to do, nothing failed.
    const second = await call("/admin/render-jobs/sweep", { method: "POST", token })
    assert.equal(second.status, 200, JSON.stringify(second.body))
    assert.deepEqual(second.body, { attached: [], failed: [] })
    const after = await productMedia(token, job.product_id)
    assert.equal(after.images.filter((i) => i.metadata?.render_job_id === id).length, 3)
  })

  test("retry: a failed job goes back to the queue with its configuration; a non-failed one is refused", async () => {
    const id = offline.failed
    const failed = (await call(`/admin/render-jobs/${id}`, { token })).body.render_job
    assert.equal(failed.status, "failed")
    assert.equal(failed.error_code, "E_IMAGE_DECODE")
    const retried = await call(`/admin/render-jobs/${id}/retry`, { method: "POST", token })
    assert.equal(retried.status, 200, JSON.stringify(retried.body))
    assert.equal(retried.body.render_job.status, "pending")
    assert.equal(retried.body.render_job.preset, "back-small")
    // The design is still broken: it fails again, on its second attempt.
    const again = await waitFor("the retried job to fail again", async () => {
      const j = (await call(`/admin/render-jobs/${id}`, { token })).body.render_job
      return j.status === "failed" ? j : null
    })
    assert.equal(again.attempt, 2)
    // Both attempts' errors stay visible, oldest first.
    assert.deepEqual(again.errors.map((e) => [e.attempt, e.code]), [[1, "E_IMAGE_DECODE"], [2, "E_IMAGE_DECODE"]])
    assert.ok(again.errors.every((e) => e.message.length > 5 && !Number.isNaN(Date.parse(e.at))))
    const refused = await call(`/admin/render-jobs/${offline.completed}/retry`, { method: "POST", token })
    assert.equal(refused.status, 400)
    assert.equal(refused.body.code, "E_INVALID_TRANSITION")
  })
})

describe("cancel and delete", () => {
  test("cancel queued jobs, refuse cancelling a completed one, delete hides a job", async () => {
    const pid = await newProduct("Cancel tee")
    // Eight jobs at once (two run at a time, each for hundreds of milliseconds): the
    // last four are cancelled straight away, while most of them still wait in the queue.
    const created = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call("/admin/render-jobs", {
          method: "POST",
          token,
          form: designForm(makePng(600, 600, RUN + 10 + i), { product_id: pid, preset: "dead-center-medium" }),
        })
      )
    )
    for (const c of created) assert.equal(c.status, 201, JSON.stringify(c.body))
    const ids = created.map((c) => c.body.render_job.id).sort()
    const doomed = ids.slice(4)
    const answers = await Promise.all(doomed.map((id) => call(`/admin/render-jobs/${id}/cancel`, { method: "POST", token })))
    for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body))
    const immediate = answers.filter((a) => a.body.render_job.status === "cancelled").map((a) => a.body.render_job.id)
    assert.ok(immediate.length >= 1, "queued jobs are cancelled at once")
    const finals = await Promise.all(
      ids.map((id) =>
        waitFor(`job ${id} to end`, async () => {
          const j = (await call(`/admin/render-jobs/${id}`, { token })).body.render_job
          return ["cancelled", "completed", "failed"].includes(j.status) && (j.status !== "completed" || j.attachment) ? j : null
        }, { timeoutMs: 120_000 })
      )
    )
    for (const j of finals) {
      if (immediate.includes(j.id)) {
        assert.equal(j.status, "cancelled", `${j.id} stays cancelled`)
        assert.equal(j.attachment, null, `${j.id} got no media`)
      } else if (!doomed.includes(j.id)) {
        assert.equal(j.status, "completed", `${j.id} (not cancelled) completes`)
      }
    }
    const media = await productMedia(token, pid)
    assert.equal(
      media.images.filter((i) => immediate.includes(i.metadata?.render_job_id)).length,
      0,
      "no images of cancelled jobs"
    )
    const done = finals.find((j) => j.status === "completed")
    const refuse = await call(`/admin/render-jobs/${done.id}/cancel`, { method: "POST", token })
    assert.equal(refuse.status, 400)
    assert.equal(refuse.body.code, "E_INVALID_TRANSITION")

    const gone = immediate[0]
    const del = await call(`/admin/render-jobs/${gone}`, { method: "DELETE", token })
    assert.equal(del.status, 200)
    assert.deepEqual(del.body, { id: gone, object: "render_job", deleted: true })
    assert.equal((await call(`/admin/render-jobs/${gone}`, { token })).status, 404)
    assert.ok(!(await jobsOf(pid)).some((j) => j.id === gone))
  })
})

describe("concurrent completions for one product", () => {
  test("six jobs at once: every job's three stills on the product, none lost or doubled", async () => {
    const pid = await newProduct("Busy tee")
    const created = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        call("/admin/render-jobs", {
          method: "POST",
          token,
          form: designForm(makePng(900, 900, RUN + 20 + i), { product_id: pid, color: `#${(0x203040 + i * 0x101010).toString(16)}` }),
        })
      )
    )
    for (const c of created) assert.equal(c.status, 201, JSON.stringify(c.body))
    for (const c of created) await waitAttached(c.body.render_job.id, 120_000)
    const media = await productMedia(token, pid)
    for (const c of created) {
      const id = c.body.render_job.id
      assert.equal(media.images.filter((i) => i.metadata?.render_job_id === id).length, 3, `stills of ${id}`)
    }
    assert.equal(media.images.length, 18)
    assert.ok(media.thumbnail, "the first completion set the thumbnail")
  })
})

describe("render every colour", () => {
  test("two colours: two jobs, each colour's stills on that colour's variants", async () => {
    const pid = await colourProduct("Colour tee", ["Red", "Navy"])
    const created = await call("/admin/render-jobs", {
      method: "POST",
      token,
      form: designForm(makePng(900, 900, RUN + 40), { product_id: pid, preset: "chest-large", every_color: "true" }),
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const jobs = created.body.render_jobs
    assert.equal(jobs.length, 2)
    const byColour = Object.fromEntries(jobs.map((j) => [j.metadata.color_option.value, j]))
    assert.equal(byColour.Red.metadata.color, "#c8102e")
    assert.equal(byColour.Navy.metadata.color, "#1f2a44")
    for (const j of jobs) await waitAttached(j.id, 120_000)

    const media = await productMedia(token, pid)
    const variants = await variantImages(pid)
    assert.equal(variants.length, 4)
    for (const v of variants) {
      const colour = v.title.split(" / ")[0]
      const job = byColour[colour]
      const expected = media.images.filter((i) => i.metadata?.render_job_id === job.id).map((i) => i.id).sort()
      assert.equal(expected.length, 3, `${colour}: three stills on the product`)
      assert.deepEqual((v.images ?? []).map((i) => i.id).sort(), expected, `${v.title} has exactly its colour's stills`)
    }
    const att = (await call(`/admin/render-jobs/${byColour.Navy.id}`, { token })).body.render_job.attachment
    assert.equal(att.variant_ids.length, 2)
  })

  test("color_value renders one colour for its variants; bad colour requests are 400", async () => {
    const pid = await colourProduct("One colour tee", ["White", "Black"], ["M"])
    const one = await call("/admin/render-jobs", {
      method: "POST",
      token,
      form: designForm(makePng(700, 700, RUN + 41), { product_id: pid, color_value: "black" }),
    })
    assert.equal(one.status, 201, JSON.stringify(one.body))
    assert.equal(one.body.render_job.metadata.color, "#1a1a1a")
    await waitAttached(one.body.render_job.id, 120_000)
    const variants = await variantImages(pid)
    assert.equal(variants.find((v) => v.title.startsWith("Black")).images.length, 3)
    assert.equal(variants.find((v) => v.title.startsWith("White")).images?.length ?? 0, 0)

    const plain = await newProduct("No colour tee")
    const cases = [
      [{ product_id: plain, every_color: "true" }, /every_color: product .* has no colour option/],
      [{ product_id: pid, color_value: "Purple" }, /color_value: "Purple" is not a value of the option "Color"/],
      [{ product_id: pid, every_color: "true", color: "#000000" }, /color/],
      [{ product_id: pid, every_color: "maybe" }, /every_color/],
    ]
    for (const [fields, re] of cases) {
      const { status, body } = await call("/admin/render-jobs", { method: "POST", token, form: designForm(makePng(64, 64), fields) })
      assert.equal(status, 400, JSON.stringify(body))
      assert.equal(body.type, "invalid_data")
      assert.match(body.message, re)
    }
    const unknown = await colourProduct("Odd colour tee", ["Mauve-ish"], ["M"])
    const odd = await call("/admin/render-jobs", { method: "POST", token, form: designForm(makePng(64, 64), { product_id: unknown, every_color: "true" }) })
    assert.equal(odd.status, 400)
    assert.equal(odd.body.code, "E_VALIDATION")
    assert.match(odd.body.message, /no garment colour known for "Mauve-ish".*metadata "hex"/)
    assert.equal((await jobsOf(unknown)).length, 0)
    const colours = await call(`/admin/products/${pid}/render-colors`, { token })
    assert.equal(colours.status, 200)
    assert.deepEqual(colours.body.colors.map((c) => [c.value, c.hex, c.variant_count]), [["White", "#ffffff", 1], ["Black", "#1a1a1a", 1]])
  })
})

describe("design URLs", () => {
  let server
  let base
  const png = makePng(900, 900, RUN + 50)
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === "/design.png") {
        res.writeHead(200, { "content-type": "image/png", "content-length": png.length })
        res.end(png)
      } else {
        res.writeHead(404).end()
      }
    })
    await new Promise((r) => server.listen(0, "127.0.0.1", r))
    base = `http://127.0.0.1:${server.address().port}`
  })
  after(() => server?.close())

  test("a JSON design_url is downloaded by the engine and rendered", async () => {
    const pid = await newProduct("URL tee")
    const created = await call("/admin/render-jobs", {
      method: "POST",
      token,
      json: { product_id: pid, preset: "chest-large", design_url: `${base}/design.png` },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    assert.equal(created.body.render_job.metadata.design_name, "design.png")
    const job = await waitAttached(created.body.render_job.id, 120_000)
    assert.equal(job.attachment.image_urls.length, 3)
  })

  test("refused URLs are 400 E_VALIDATION with the reason, and no job", async () => {
    const pid = await newProduct("Bad URL tee")
    const cases = [
      // Link-local (the cloud metadata address): refused by the engine's download guard.
      [{ design_url: "http://169.254.169.254/latest/meta-data" }, "E_VALIDATION", /design/],
      [{ design_url: "not a url" }, null, /design_url/],
      [{ design_url: `${base}/missing.png` }, "E_VALIDATION", /design/],
    ]
    for (const [fields, code, re] of cases) {
      const { status, body } = await call("/admin/render-jobs", { method: "POST", token, json: { product_id: pid, ...fields } })
      assert.equal(status, 400, JSON.stringify(body))
      if (code) assert.equal(body.code, code, JSON.stringify(body))
      assert.match(body.message, re)
    }
    const both = await call("/admin/render-jobs", {
      method: "POST",
      token,
      form: designForm(makePng(64, 64), { product_id: pid, design_url: `${base}/design.png` }),
    })
    assert.equal(both.status, 400)
    assert.match(both.body.message, /either the file `design` or `design_url`/)
    assert.equal((await jobsOf(pid)).length, 0)
  })
})
