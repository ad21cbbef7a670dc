// Test images made on the fly with sharp (a dev dependency), so no binary fixtures.
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import sharp from 'sharp'

/** A PNG of `width` x `height` filled with `rgba`, with a transparent margin if asked. */
export async function solidPng(width, height, rgba = [220, 30, 30, 255]) {
  const pixels = Buffer.alloc(width * height * 4)
  for (let i = 0; i < width * height; i++) pixels.set(rgba, i * 4)
  return sharp(pixels, { raw: { width, height, channels: 4 } }).png().toBuffer()
}

/** A flat light-grey garment "photo" (JPEG) and a white mask covering its middle. */
export async function garmentPhoto(size = 240) {
  const photo = await sharp({
    create: { width: size, height: size, channels: 3, background: { r: 200, g: 200, b: 200 } },
  })
    .jpeg({ quality: 95 })
    .toBuffer()
  const m = Math.round(size * 0.1)
  const maskPixels = Buffer.alloc(size * size)
  for (let y = m; y < size - m; y++) maskPixels.fill(255, y * size + m, y * size + size - m)
  const mask = await sharp(maskPixels, { raw: { width: size, height: size, channels: 1 } })
    .png()
    .toBuffer()
  const a = size * 0.3
  const b = size * 0.7
  return {
    image: photo,
    mask,
    printArea: { quad: [[a, a], [b, a], [b, b], [a, b]], widthIn: 12, heightIn: 12 },
  }
}

/** The mean colour of an encoded image over a rectangle. */
export async function meanColor(bytes, left, top, width, height) {
  const { data, info } = await sharp(bytes)
    .extract({ left, top, width, height })
    .raw()
    .toBuffer({ resolveWithObject: true })
  const sums = [0, 0, 0]
  for (let i = 0; i < data.length; i += info.channels) {
    for (let c = 0; c < 3; c++) sums[c] += data[i + c]
  }
  const n = data.length / info.channels
  return sums.map((s) => s / n)
}

/** Asserts `promise` rejects with a JS Error whose `code` is `code`; returns the error. */
export async function rejectsWith(assert, promise, code) {
  let caught
  try {
    await promise
  } catch (e) {
    caught = e
  }
  assert.ok(caught instanceof Error, `expected an Error with code ${code}, got ${caught}`)
  assert.equal(caught.code, code, `code of: ${caught.message}`)
  return caught
}

/** Asserts `fn` throws a JS Error whose `code` is `code`; returns the error. */
export function throwsWith(assert, fn, code) {
  let caught
  try {
    fn()
  } catch (e) {
    caught = e
  }
  assert.ok(caught instanceof Error, `expected an Error with code ${code}, got ${caught}`)
  assert.equal(caught.code, code, `code of: ${caught.message}`)
  return caught
}

/**
 * `RenderEngine.open` options for a small test engine in `dir`: its own SQLite file and
 * data folder named `name`, one worker polling every 50 ms, the print file only;
 * `options` override them.
 */
export function testEngineOptions(dir, name, options = {}) {
  return {
    database: `sqlite://${join(dir, `${name}.db`)}`,
    dataDir: join(dir, name),
    concurrency: 1,
    pollMs: 50,
    outputs: { printFile: true, allStills: false, turntable: false },
    ...options,
  }
}

/** Polls `engine.getJob(id)` every 50 ms until `done(job)` holds; throws after `timeoutMs`. */
export async function waitForJob(engine, id, done, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const job = await engine.getJob(id)
    if (done(job)) return job
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`)
    await sleep(50)
  }
}
