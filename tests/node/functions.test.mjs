// The stateless calls: compose, preflight, render, mockup, presets and templates, with
// their error codes and bad inputs.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import sharp from 'sharp'

import { garmentPhoto, meanColor, rejectsWith, solidPng, throwsWith } from './fixtures.mjs'

const require = createRequire(import.meta.url)
const engine = require('../../index.js')

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

test('compose returns the print file, atlas, preview (PNG) and the preflight report', async () => {
  const design = await solidPng(600, 600)
  const result = await engine.compose(design, { preset: 'chest-large', color: '#1f2937', printDpi: 100 })
  for (const key of ['printFile', 'atlas', 'preview']) {
    assert.ok(Buffer.isBuffer(result[key]), key)
    assert.deepEqual(result[key].subarray(0, 8), PNG_SIGNATURE, key)
  }
  const print = await sharp(result.printFile).metadata()
  assert.equal(print.width, 1200) // 12 in at 100 DPI
  assert.equal(print.height, 1200)
  assert.equal(result.preflight.effective_dpi.x, 50) // 600 px over 12 in
  assert.equal(result.preflight.placement, 'chest-large')
  assert.ok(result.preflight.warnings.some((w) => w.code === 'W_LOW_RESOLUTION'))
})

test('composeSync gives the same result on the calling thread', async () => {
  const design = await solidPng(300, 150)
  const result = engine.composeSync(design, { preset: 'back-small', printDpi: 150 })
  const print = await sharp(result.printFile).metadata()
  assert.equal(print.width, 600) // 4 in at 150 DPI
  assert.equal(result.preflight.print_dpi, 150)
})

test('compose accepts a custom placement', async () => {
  const design = await solidPng(200, 200)
  const result = await engine.compose(design, {
    placement: { panel: 'front', xIn: -2, yIn: 4, widthIn: 4, heightIn: 4, align: 'center' },
    printDpi: 100,
  })
  assert.equal(result.preflight.placement, 'custom')
  assert.equal((await sharp(result.printFile).metadata()).width, 400)
})

test('wrong argument types reject with E_VALIDATION naming the field', async () => {
  const design = await solidPng(64, 64)
  let e = await rejectsWith(assert, engine.compose('not a buffer'), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'design')
  e = await rejectsWith(assert, engine.compose(), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'design')
  e = await rejectsWith(assert, engine.compose(design, 'chest-large'), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'options')
  e = await rejectsWith(assert, engine.compose(design, { preset: 5 }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'options')
  assert.match(e.message, /preset/)
  e = await rejectsWith(assert, engine.compose(design, {}, 'signal'), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'signal')
  e = await rejectsWith(assert, engine.compose(design, {}, {}), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'signal')
  e = throwsWith(assert, () => engine.composeSync(42), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'design')
})

test('bad option values reject with E_VALIDATION and say what to use', async () => {
  const design = await solidPng(64, 64)
  let e = await rejectsWith(assert, engine.compose(design, { preset: 'huge' }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'preset')
  assert.match(e.message, /chest-large/)
  e = await rejectsWith(assert, engine.compose(design, { color: 'blue-ish' }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'color')
  e = await rejectsWith(assert, engine.compose(design, { fit: 'squash' }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'fit')
  e = await rejectsWith(assert, engine.compose(design, { printDpi: 5 }), 'E_VALIDATION')
  e = await rejectsWith(
    assert,
    engine.compose(design, { preset: 'back-small', placement: { panel: 'front', xIn: 0, yIn: 0, widthIn: 1, heightIn: 1 } }),
    'E_VALIDATION',
  )
  assert.equal(e.fields[0].field, 'placement')
})

test('corrupt or foreign designs reject with their decoding codes', async () => {
  const design = await solidPng(64, 64)
  await rejectsWith(assert, engine.compose(design.subarray(0, 60)), 'E_IMAGE_DECODE')
  await rejectsWith(assert, engine.compose(Buffer.from('hello, world')), 'E_UNSUPPORTED_FORMAT')
  await rejectsWith(assert, engine.compose(Buffer.alloc(0)), 'E_IMAGE_DECODE')
  const big = await solidPng(1100, 1000)
  await rejectsWith(assert, engine.compose(big, { maxPixels: 1_000_000, printDpi: 72 }), 'E_IMAGE_TOO_LARGE')
  throwsWith(assert, () => engine.preflightSync(Buffer.from('GIF89a....')), 'E_UNSUPPORTED_FORMAT')
})

test('an aborted signal rejects with E_CANCELLED', async () => {
  const design = await solidPng(64, 64)
  const controller = new AbortController()
  controller.abort()
  await rejectsWith(assert, engine.compose(design, {}, controller.signal), 'E_CANCELLED')
  await rejectsWith(assert, engine.preflight(design, {}, controller.signal), 'E_CANCELLED')
  await rejectsWith(assert, engine.render(design, {}, controller.signal), 'E_CANCELLED')
  const photo = await garmentPhoto()
  await rejectsWith(assert, engine.mockup(design, photo, {}, controller.signal), 'E_CANCELLED')
})

test('aborting a running render stops it with E_CANCELLED', async () => {
  const design = await solidPng(256, 256)
  const controller = new AbortController()
  const running = engine.render(design, { printDpi: 72, turntable: ['mp4', 'webp'] }, controller.signal)
  setTimeout(() => controller.abort(), 50)
  const started = Date.now()
  await rejectsWith(assert, running, 'E_CANCELLED')
  assert.ok(Date.now() - started < 10_000)
})

test('a signal that is never aborted changes nothing', async () => {
  const design = await solidPng(64, 64)
  const controller = new AbortController()
  const report = await engine.preflight(design, { preset: 'dead-center-medium', printDpi: 72 }, controller.signal)
  assert.equal(report.placement, 'dead-center-medium')
  controller.abort() // after completion: harmless
})

test('preflight reports without outputs; preflightSync too', async () => {
  const design = await solidPng(1800, 1800)
  const report = await engine.preflight(design, { printDpi: 72 })
  assert.equal(report.effective_dpi.x, 150)
  assert.deepEqual(report.warnings.filter((w) => w.code === 'W_LOW_RESOLUTION'), [])
  const small = engine.preflightSync(await solidPng(300, 300), { printDpi: 72 })
  assert.ok(small.warnings.some((w) => w.code === 'W_LOW_RESOLUTION'))
})

test('render gives the stills and the turntable encodings asked for', async () => {
  const design = await solidPng(400, 400, [10, 120, 220, 255])
  const result = await engine.render(design, { color: '#ffffff', printDpi: 72, stills: ['front', 'three-quarter'], turntable: ['webp'] })
  assert.deepEqual(result.stills.front.subarray(0, 8), PNG_SIGNATURE)
  assert.deepEqual(result.stills.threeQuarter.subarray(0, 8), PNG_SIGNATURE)
  assert.equal(result.stills.back, undefined)
  assert.equal(result.turntableMp4, undefined)
  assert.equal(result.turntableWebp.subarray(8, 12).toString(), 'WEBP')
  assert.equal(result.preflight.placement, 'chest-large')
  const e = await rejectsWith(assert, engine.render(design, { stills: ['side'] }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'stills')
  await rejectsWith(assert, engine.render(design, { turntable: ['gif'] }), 'E_VALIDATION')
})

test('renderSync renders the front still alone', () => {
  return solidPng(200, 200).then((design) => {
    const result = engine.renderSync(design, { printDpi: 72, stills: ['front'], turntable: [] })
    assert.deepEqual(result.stills.front.subarray(0, 8), PNG_SIGNATURE)
    assert.equal(result.turntableWebp, undefined)
  })
})

test('mockup gives one image per garment colour, re-tinted, with the design on it', async () => {
  const design = await solidPng(300, 300, [230, 20, 20, 255])
  const photo = await garmentPhoto(240)
  const images = await engine.mockup(design, photo, { colors: ['#1d4ed8', '#16a34a'], format: 'jpeg', quality: 90 })
  assert.equal(images.length, 2)
  for (const img of images) {
    const meta = await sharp(img).metadata()
    assert.equal(meta.format, 'jpeg')
    assert.equal(meta.width, 240)
  }
  // The print area's middle shows the red design; the garment outside it, each colour.
  const [red] = await meanColor(images[0], 110, 110, 20, 20)
  assert.ok(red > 150, `design red in the print area: ${red}`)
  const blue = await meanColor(images[0], 40, 190, 10, 10)
  const green = await meanColor(images[1], 40, 190, 10, 10)
  assert.ok(blue[2] > blue[1], `blue garment: ${blue}`)
  assert.ok(green[1] > green[2], `green garment: ${green}`)
  // Without colours: one image in the photo's own colour; PNG when asked.
  const own = engine.mockupSync(design, { image: photo.image, printArea: photo.printArea }, { format: 'png' })
  assert.equal(own.length, 1)
  assert.deepEqual(own[0].subarray(0, 8), PNG_SIGNATURE)
})

test('mockup takes a displacement map; a flat (128) map leaves the print where it was', async () => {
  const design = await solidPng(300, 300, [230, 20, 20, 255])
  const photo = await garmentPhoto(240)
  const flat = await sharp({ create: { width: 240, height: 240, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .png()
    .toBuffer()
  const plain = { image: photo.image, printArea: photo.printArea }
  const [mapped] = await engine.mockup(design, { ...plain, displacement: { image: flat, scalePx: 20 } }, { format: 'png' })
  const [red] = await meanColor(mapped, 90, 90, 60, 20)
  assert.ok(red > 150, `design red in the print area: ${red}`)
  const e = await rejectsWith(
    assert,
    engine.mockup(design, { ...plain, displacement: { image: flat, scalePx: 20, channels: 'blue' } }),
    'E_VALIDATION',
  )
  assert.equal(e.fields[0].field, 'photo.displacement.channels')
})

test('mockup errors: bad photo, print area, options', async () => {
  const design = await solidPng(100, 100)
  const photo = await garmentPhoto(200)
  let e = await rejectsWith(assert, engine.mockup(design), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'photo')
  e = await rejectsWith(assert, engine.mockup(design, { image: 'x', printArea: photo.printArea }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'photo')
  e = await rejectsWith(
    assert,
    engine.mockup(design, { ...photo, printArea: { ...photo.printArea, quad: [[0, 0], [1, 1]] } }),
    'E_VALIDATION',
  )
  assert.equal(e.fields[0].field, 'photo.printArea.quad')
  e = await rejectsWith(
    assert,
    engine.mockup(design, { image: photo.image, printArea: photo.printArea }, { colors: ['#000000'] }),
    'E_VALIDATION',
  )
  assert.equal(e.fields[0].field, 'color')
  e = await rejectsWith(assert, engine.mockup(design, photo, { quality: 0 }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'quality')
  e = await rejectsWith(assert, engine.mockup(design, photo, { format: 'gif' }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'format')
  await rejectsWith(assert, engine.mockup(design, { ...photo, image: Buffer.from('nope') }), 'E_UNSUPPORTED_FORMAT')
  await rejectsWith(assert, engine.mockup(Buffer.from('nope'), photo), 'E_UNSUPPORTED_FORMAT')
})

test('listPresets and listTemplates describe the built-in garments', () => {
  const presets = engine.listPresets()
  assert.deepEqual(presets.map((p) => p.id), ['chest-large', 'dead-center-medium', 'back-small'])
  const chest = presets[0]
  assert.equal(chest.panel, 'front')
  assert.equal(chest.widthIn, 12)
  assert.equal(chest.heightIn, 12)
  const templates = engine.listTemplates()
  assert.deepEqual(templates.map((t) => t.id), ['classic-tee', 'long-sleeve-tee', 'hoodie'])
  assert.ok(templates[0].panels.includes('front'))
  assert.ok(templates[0].atlasWidth > 0)
  assert.deepEqual(templates[0].presets, presets)
  // The hoodie's chest print sits above its pocket: a shorter area than the tee's.
  const hoodie = templates[2]
  assert.ok(hoodie.panels.includes('pocket') && hoodie.panels.includes('hood_left'))
  const hoodieChest = hoodie.presets.find((p) => p.id === 'chest-large')
  assert.ok(hoodieChest.heightIn < chest.heightIn, JSON.stringify(hoodieChest))
  assert.deepEqual(engine.listPresets('hoodie'), hoodie.presets)
})
