// The admin in a real browser (Debian's Chromium through playwright-core): log in, open
// the demo product, upload a design through the widget, see the preflight, start the
// render, wait for completion, and find the front still under the product's Media.
// Screenshots go to $ARTIFACTS_DIR (integrations/medusa/.artifacts/browser by default).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { execFileSync } from "node:child_process"
import assert from "node:assert/strict"
import { after, before, test } from "node:test"
import { chromium } from "playwright-core"
import { ADMIN_EMAIL, ADMIN_PASSWORD, STORE_URL, call, demoProductId, login, makePng, productMedia } from "./helpers.mjs"

const ARTIFACTS = process.env.ARTIFACTS_DIR ?? path.resolve(import.meta.dirname, "../../.artifacts/browser")
const offline = process.env.OFFLINE_JOBS ? JSON.parse(readFileSync(process.env.OFFLINE_JOBS, "utf8")) : null
const executablePath =
  process.env.CHROMIUM_PATH ?? execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"]).toString().trim()

let browser
before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-dev-shm-usage"] })
})
after(async () => {
  await browser?.close()
})

test("upload a design in the product widget, render every colour, follow the progress, see the renders under Media", { timeout: 240_000 }, async () => {
  const token = await login()
  const productId = await demoProductId(token)
  const design = path.join(ARTIFACTS, "browser-design.png")
  writeFileSync(design, makePng(1800, 1800, Math.random() * 100))

  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } })
  const consoleErrors = []
  page.on("pageerror", (e) => consoleErrors.push(e.message))
  try {
    await page.goto(`${STORE_URL}/app/login`)
    await page.locator('input[name="email"]').fill(ADMIN_EMAIL)
    await page.locator('input[name="password"]').fill(ADMIN_PASSWORD)
    await page.getByRole("button", { name: /continue with email/i }).click()
    await page.waitForURL((u) => !u.pathname.endsWith("/login"), { timeout: 30_000 })

    await page.goto(`${STORE_URL}/app/products/${productId}`)
    // The widget's container: the heading's section's parent.
    const widget = page.getByRole("heading", { name: "Renders", exact: true }).locator("xpath=../..")
    const dropzone = page.getByTestId("render-dropzone")
    await dropzone.waitFor({ timeout: 30_000 })
    await dropzone.scrollIntoViewIfNeeded()

    // Keyboard reachable: the drop zone takes focus.
    await dropzone.focus()
    assert.equal(await dropzone.evaluate((el) => el === document.activeElement), true)

    await page.getByLabel("Design file").setInputFiles(design)
    await page.getByText(/Effective resolution: \d+ DPI/).waitFor({ timeout: 30_000 })
    const dpiText = await page.getByText(/Effective resolution/).textContent()
    assert.match(dpiText, /150 DPI/, dpiText)

    // The product's colour option (Colour: White, Navy): "every colour", chosen by keyboard.
    const every = page.getByLabel(/^Every colour \(2 renders/)
    await every.focus()
    await page.keyboard.press("Space")
    assert.equal(await every.isChecked(), true)

    const jobsBefore = (await call(`/admin/products/${productId}/render-jobs?limit=100`, { token })).body.render_jobs.length
    await page.getByRole("button", { name: "Start 2 renders" }).click()
    await page.getByRole("status").filter({ hasText: "2 renders started, one per colour" }).waitFor({ timeout: 15_000 })
    const jobs = (await call(`/admin/products/${productId}/render-jobs?limit=100`, { token })).body.render_jobs
    assert.equal(jobs.length, jobsBefore + 2)
    const mine = jobs.slice(0, 2)
    assert.deepEqual(mine.map((j) => j.metadata.color_option.value).sort(), ["Navy", "White"])
    const jobId = mine.find((j) => j.metadata.color_option.value === "White").id

    // While they run: a labelled progress bar per job, with its range and a spoken value.
    const bar = page.getByRole("progressbar", { name: new RegExp(`Progress of render (White|Navy) (${mine.map((j) => j.id).join("|")})`) }).first()
    await bar.waitFor({ timeout: 15_000 })
    assert.equal(await bar.getAttribute("aria-valuemin"), "0")
    assert.equal(await bar.getAttribute("aria-valuemax"), "100")
    assert.match(await bar.getAttribute("aria-valuenow"), /^\d+$/)
    assert.match(await bar.getAttribute("aria-valuetext"), /^(Waiting for a worker|Starting|Placing the design|Rendering|Encoding the turntable|Saving the outputs), \d+ %/)
    await bar.scrollIntoViewIfNeeded()
    await widget.screenshot({ path: path.join(ARTIFACTS, "widget-progress.png") })

    // Both colours' entries (found by their Delete buttons' accessible names) once attached,
    // each to its colour's variant.
    for (const j of mine) {
      const done = page.locator(`[data-testid="render-job"][data-status="completed"]`, {
        has: page.getByRole("button", { name: `Delete render job ${j.id}` }),
        hasText: "images added to the product's media and 1 variant",
      })
      await done.waitFor({ timeout: 90_000 })
    }
    await page.getByTestId("render-jobs-summary").filter({ hasText: /completed/ }).waitFor()
    await widget.screenshot({ path: path.join(ARTIFACTS, "widget-completed.png") })

    // The offline worker's broken job that failed twice: its error and the earlier
    // attempt's, reachable by keyboard.
    if (offline) {
      const failed = page.locator(`[data-testid="render-job"][data-status="failed"]`, {
        has: page.getByRole("button", { name: `Delete render job ${offline.failed_twice}` }),
      })
      await failed.scrollIntoViewIfNeeded()
      await failed.getByText(/Failed on attempt 2: E_IMAGE_DECODE/).waitFor({ timeout: 10_000 })
      const summary = failed.locator("summary")
      assert.equal(await summary.textContent(), "1 earlier attempt failed")
      await summary.focus()
      await page.keyboard.press("Enter")
      const earlier = failed.getByRole("list", { name: `Earlier attempts of render ${offline.failed_twice}` })
      await earlier.getByText(/^Attempt 1 \(.*\): E_IMAGE_DECODE: /).waitFor({ timeout: 5_000 })
      const retry = failed.getByRole("button", { name: `Retry render job ${offline.failed_twice}` })
      await retry.focus()
      assert.equal(await retry.evaluate((el) => el === document.activeElement), true)
      await failed.screenshot({ path: path.join(ARTIFACTS, "widget-failed-job.png") })
    }

    // The product's Media section shows the new front still after a reload.
    const media = await productMedia(token, productId)
    const front = media.images.find((i) => i.metadata?.render_job_id === jobId && i.metadata?.render_output === "front.png")
    assert.ok(front, "the front still is among the product's images")
    await page.reload()
    const img = page.locator(`img[src="${front.url}"]`).first()
    await img.waitFor({ timeout: 30_000 })
    await img.scrollIntoViewIfNeeded()
    // Loaded: the browser decoded the served PNG (waits for the load to finish).
    const handle = await img.elementHandle()
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, handle, { timeout: 15_000 })
    await page.screenshot({ path: path.join(ARTIFACTS, "product-media.png") })
    const mediaSection = page.getByRole("heading", { name: "Media", exact: true }).locator("xpath=../..")
    await mediaSection.screenshot({ path: path.join(ARTIFACTS, "media-section.png") })
    assert.deepEqual(consoleErrors, [])
  } catch (e) {
    await page.screenshot({ path: path.join(ARTIFACTS, "failure.png"), fullPage: true }).catch(() => {})
    throw e
  } finally {
    await page.close()
  }
})
