// The admin in a real browser (Debian's Chromium through playwright-core): log in, open
// the demo product, upload a design through the widget, see the preflight, start the
// render, wait for completion, and find the front still under the product's Media.
// Screenshots go to $ARTIFACTS_DIR (integrations/medusa/.artifacts/browser by default).
import { mkdirSync, writeFileSync } from "node:fs"
import path from "node:path"
import { execFileSync } from "node:child_process"
import assert from "node:assert/strict"
import { after, before, test } from "node:test"
import { chromium } from "playwright-core"
import { ADMIN_EMAIL, ADMIN_PASSWORD, STORE_URL, call, demoProductId, login, makePng, productMedia } from "./helpers.mjs"

const ARTIFACTS = process.env.ARTIFACTS_DIR ?? path.resolve(import.meta.dirname, "../../.artifacts/browser")
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

test("upload a design in the product widget and see the render under Media", { timeout: 180_000 }, async () => {
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

    const jobsBefore = (await call(`/admin/products/${productId}/render-jobs?limit=100`, { token })).body.render_jobs.length
    await page.getByRole("button", { name: "Start render" }).click()
    await page.getByRole("status").filter({ hasText: "Render started" }).waitFor({ timeout: 15_000 })
    const jobs = (await call(`/admin/products/${productId}/render-jobs?limit=100`, { token })).body.render_jobs
    assert.equal(jobs.length, jobsBefore + 1)
    const jobId = jobs[0].id

    // This job's entry (found by its Delete button's accessible name) once attached.
    const done = page.locator(`[data-testid="render-job"][data-status="completed"]`, {
      has: page.getByRole("button", { name: `Delete render job ${jobId}` }),
      hasText: "images added to the product's media",
    })
    await done.waitFor({ timeout: 90_000 })
    await done.scrollIntoViewIfNeeded()
    await widget.screenshot({ path: path.join(ARTIFACTS, "widget-completed.png") })

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
