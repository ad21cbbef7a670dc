// RenderEngine.open's `httpDesigns` and `templates` options: http(s) designs served by a
// local server (allowed by range, refused as loopback, refused while off), and extra
// template packs for `template_id`, with listTemplates / listPresets / compose taking
// the same packs.
import assert from 'node:assert/strict'
import { cpSync, readFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, test } from 'node:test'

import { rejectsWith, solidPng, testEngineOptions, throwsWith, waitForJob } from './fixtures.mjs'

const require = createRequire(import.meta.url)
const { RenderEngine, compose, listPresets, listTemplates } = require('../../index.js')

const dir = mkdtempSync(join(tmpdir(), 'render-engine-node-options-'))
after(() => rmSync(dir, { recursive: true, force: true }))

// ---------------------------------------------------------------------------------------
// A design server on 127.0.0.1 that counts the requests per path.

let server
let design
const hits = new Map()
const hit = (path) => hits.get(path) ?? 0
const url = (path) => `http://127.0.0.1:${server.address().port}${path}`

before(async () => {
  design = await solidPng(400, 300, [30, 160, 90, 255])
  server = createServer((req, res) => {
    hits.set(req.url, hit(req.url) + 1)
    if (req.url === '/design.png') {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': design.length })
      res.end(design)
    } else if (req.url === '/redirect') {
      res.writeHead(302, { location: '/design.png', 'content-length': 0 })
      res.end()
    } else if (req.url === '/two-hops') {
      res.writeHead(302, { location: '/redirect', 'content-length': 0 })
      res.end()
    } else if (req.url === '/slow') {
      // The headers at once, then the body too late for a short time limit.
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': design.length })
      res.write(design.subarray(0, 16))
      const timer = setTimeout(() => res.end(design.subarray(16)), 2_000)
      res.on('close', () => clearTimeout(timer))
    } else {
      res.writeHead(404, { 'content-length': 0 })
      res.end()
    }
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
})
after(() => {
  server.closeAllConnections()
  server.close()
})

let opened = 0
async function openEngine(options = {}) {
  return RenderEngine.open(testEngineOptions(dir, `e${++opened}`, options))
}

function openOptions(name, options) {
  return { database: `sqlite://${join(dir, `${name}.db`)}`, dataDir: join(dir, name), ...options }
}

async function runToEnd(engine, id, timeoutMs = 120_000) {
  engine.start()
  try {
    return await waitForJob(engine, id, (job) => ['completed', 'failed', 'cancelled'].includes(job.status), timeoutMs)
  } finally {
    await engine.stop(5_000)
  }
}

// ---------------------------------------------------------------------------------------
// httpDesigns

test('httpDesigns with an allowed range: a job from an http URL runs to completed', async () => {
  const engine = await openEngine({ httpDesigns: { allowRanges: ['127.0.0.1/32'] } })
  const before = hit('/design.png')
  const created = await engine.createJob({ product_id: 'prod_http', preset: 'chest-large', design: url('/design.png') })
  assert.equal(created.status, 'pending')
  assert.equal(hit('/design.png'), before + 1, 'the design was downloaded once, at createJob')
  // The engine stored the downloaded bytes as the job's design.
  assert.deepEqual(readFileSync(fileURLToPath(created.design_file_url)), design)

  const done = await runToEnd(engine, created.id)
  assert.equal(done.status, 'completed', `${done.error_code}: ${done.error_message}`)
  assert.ok(done.composited_file_url)
  assert.ok(done.rendered_image_url)
  const outputs = done.metadata.outputs
  assert.ok(Array.isArray(outputs) && outputs.length >= 3, JSON.stringify(outputs))
  assert.equal(done.metadata.preflight.design_px.width, 400)

  // A redirect within the allowed range is followed (3 hops by default).
  const redirected = await engine.createJob({ product_id: 'prod_http', preset: 'back-small', design: url('/redirect') })
  assert.equal(redirected.design_file_url, created.design_file_url)
})

test('httpDesigns: true refuses a loopback server before connecting', async () => {
  const engine = await openEngine({ httpDesigns: true })
  const before = hit('/design.png')
  const port = server.address().port
  for (const [target, says] of [
    [url('/design.png'), /127\.0\.0\.1, a loopback address/],
    [`http://localhost:${port}/design.png`, /loopback/],
    ['http://169.254.169.254/latest/meta-data/', /link-local/],
    ['http://10.1.2.3/design.png', /private/],
  ]) {
    const e = await rejectsWith(assert, engine.createJob({ product_id: 'p', preset: 'chest-large', design: target }), 'E_VALIDATION')
    assert.equal(e.fields[0].field, 'design')
    assert.match(e.message, says)
    assert.match(e.message, /allow the range/)
  }
  assert.equal(hit('/design.png'), before, 'no refused URL reached the server')
  assert.deepEqual((await engine.listJobs()).jobs, [], 'nothing was created')
})

test('http designs off (the default): an http URL is refused at createJob, saying how to enable them', async () => {
  for (const options of [{}, { httpDesigns: false }, { httpDesigns: null }]) {
    const engine = await openEngine(options)
    const before = hit('/design.png')
    for (const target of [url('/design.png'), 'HTTPS://127.0.0.1/design.png']) {
      const e = await rejectsWith(assert, engine.createJob({ product_id: 'p', preset: 'chest-large', design: target }), 'E_VALIDATION')
      assert.equal(e.fields[0].field, 'design')
      assert.match(e.message, /http\(s\) design URLs are refused/)
      assert.match(e.message, /httpDesigns: true/)
    }
    assert.equal(hit('/design.png'), before)
    assert.deepEqual((await engine.listJobs()).jobs, [])
  }
  // file:// designs without allowedFileRoot say which option to set, too.
  const engine = await openEngine()
  const e = await rejectsWith(assert, engine.createJob({ product_id: 'p', preset: 'chest-large', design: 'file:///tmp/a.png' }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'design')
  assert.match(e.message, /allowedFileRoot/)
})

test('httpDesigns: timeoutMs and maxRedirects reach the download', async () => {
  const allow = ['127.0.0.1/32']
  const job = (engine, path) => engine.createJob({ product_id: 'p', preset: 'chest-large', design: url(path) })
  const none = await openEngine({ httpDesigns: { allowRanges: allow, maxRedirects: 0 } })
  let e = await rejectsWith(assert, job(none, '/redirect'), 'E_VALIDATION')
  assert.match(e.message, /redirects more than 0 times/)
  const one = await openEngine({ httpDesigns: { allowRanges: allow, maxRedirects: 1 } })
  assert.equal((await job(one, '/redirect')).status, 'pending')
  e = await rejectsWith(assert, job(one, '/two-hops'), 'E_VALIDATION')
  assert.match(e.message, /redirects more than 1 times/)
  const two = await openEngine({ httpDesigns: { allowRanges: allow, maxRedirects: 2 } })
  assert.equal((await job(two, '/two-hops')).status, 'pending')

  const hasty = await openEngine({ httpDesigns: { allowRanges: allow, timeoutMs: 300 } })
  const started = Date.now()
  e = await rejectsWith(assert, job(hasty, '/slow'), 'E_VALIDATION')
  assert.match(e.message, /within 0\.3 s/)
  assert.ok(Date.now() - started < 1_900, 'gave up at the time limit, before the body came')
})

test('httpDesigns: bad values are E_VALIDATION naming the field', async () => {
  const cases = [
    ['yes', 'httpDesigns'],
    [1, 'httpDesigns'],
    [['127.0.0.1/32'], 'httpDesigns'],
    [{ allowRanges: '127.0.0.1/32' }, 'httpDesigns.allowRanges'],
    [{ allowRanges: [42] }, 'httpDesigns.allowRanges[0]'],
    [{ allowRanges: ['127.0.0.1/32', 'not-an-address'] }, 'httpDesigns.allowRanges[1]'],
    [{ allowRanges: ['10.0.0.0/33'] }, 'httpDesigns.allowRanges[0]'],
    [{ timeoutMs: 0 }, 'httpDesigns.timeoutMs'],
    [{ timeoutMs: -5 }, 'httpDesigns.timeoutMs'],
    [{ timeoutMs: 'soon' }, 'httpDesigns.timeoutMs'],
    [{ timeoutMs: 1e300 }, 'httpDesigns.timeoutMs'],
    [{ maxRedirects: -1 }, 'httpDesigns.maxRedirects'],
    [{ maxRedirects: 1.5 }, 'httpDesigns.maxRedirects'],
    [{ allowRange: ['127.0.0.1/32'] }, 'httpDesigns.allowRange'],
  ]
  for (const [value, field] of cases) {
    const e = await rejectsWith(assert, RenderEngine.open(openOptions('bad-http', { httpDesigns: value })), 'E_VALIDATION')
    assert.equal(e.fields[0].field, field, `${JSON.stringify(value)}: ${e.message}`)
  }
  // Fields left undefined (or null) take their defaults, as everywhere else.
  const engine = await RenderEngine.open(
    openOptions('undefined-http', { httpDesigns: { allowRanges: undefined, timeoutMs: undefined, maxRedirects: null } }),
  )
  assert.equal((await engine.listJobs()).jobs.length, 0)
  const e = await rejectsWith(assert, RenderEngine.open(openOptions('huge-timeout', { jobTimeoutMs: 1e300 })), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'jobTimeoutMs')
})

// ---------------------------------------------------------------------------------------
// templates

/**
 * A copy of the built-in pack's manifest under another id, in its own folder, with a
 * copy of its bake (`baked/`) unless `baked` is false.
 */
function makePack(id, name = id, { baked = true } = {}) {
  const manifest = JSON.parse(readFileSync(new URL('../../assets/templates/classic-tee/template.json', import.meta.url)))
  manifest.id = id
  manifest.name = `${name} (test copy of classic-tee)`
  const packDir = join(dir, 'packs', name)
  mkdirSync(packDir, { recursive: true })
  writeFileSync(join(packDir, 'template.json'), JSON.stringify(manifest))
  if (baked) {
    cpSync(fileURLToPath(new URL('../../assets/templates/classic-tee/baked', import.meta.url)), join(packDir, 'baked'), { recursive: true })
    const index = JSON.parse(readFileSync(join(packDir, 'baked', 'views.json')))
    index.template = id
    writeFileSync(join(packDir, 'baked', 'views.json'), JSON.stringify(index))
  }
  return packDir
}

test('templates: a job names an extra pack by template_id and runs with it', async () => {
  const pack = makePack('node-tee')
  const engine = await openEngine({ templates: [pack] })
  assert.deepEqual(engine.listTemplates().map((t) => t.id), ['classic-tee', 'long-sleeve-tee', 'hoodie', 'node-tee'])
  const input = { product_id: 'prod_tpl', preset: 'chest-large', design: await solidPng(300, 300) }
  const created = await engine.createJob({ ...input, template_id: 'node-tee' })
  assert.equal(created.template_id, 'node-tee')
  const done = await runToEnd(engine, created.id)
  assert.equal(done.status, 'completed', `${done.error_code}: ${done.error_message}`)
  assert.equal(done.metadata.preflight.template, 'node-tee', 'composed with the configured pack')

  const e = await rejectsWith(assert, engine.createJob({ ...input, template_id: 'no-such-tee' }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'template_id')
  assert.match(e.message, /classic-tee, long-sleeve-tee, hoodie, node-tee/)
  assert.equal((await engine.listJobs()).jobs.length, 1, 'the refused job was not created')

  // A pack without its bake composes but cannot be rendered: refused at createJob.
  const raw = makePack('raw-tee', 'raw-tee', { baked: false })
  const rawEngine = await openEngine({ templates: [raw] })
  const unbaked = await rejectsWith(assert, rawEngine.createJob({ ...input, template_id: 'raw-tee' }), 'E_VALIDATION')
  assert.match(unbaked.message, /has no bake.*render-engine template bake/)
  assert.equal((await rawEngine.listJobs()).jobs.length, 0)

  // Without the option the pack is unknown.
  const plain = await openEngine()
  assert.deepEqual(plain.listTemplates().map((t) => t.id), ['classic-tee', 'long-sleeve-tee', 'hoodie'])
  const refused = await rejectsWith(assert, plain.createJob({ ...input, template_id: 'node-tee' }), 'E_VALIDATION')
  assert.equal(refused.fields[0].field, 'template_id')
})

test('templates: a broken or duplicate pack is E_VALIDATION on templates[i]', async () => {
  const good = makePack('dup-tee', 'dup-a')
  const same = makePack('dup-tee', 'dup-b')
  const empty = join(dir, 'packs', 'empty')
  mkdirSync(empty, { recursive: true })
  const broken = join(dir, 'packs', 'broken')
  mkdirSync(broken, { recursive: true })
  writeFileSync(join(broken, 'template.json'), '{ "id": "broken", ')
  const cases = [
    [[join(dir, 'packs', 'missing')], 'templates[0]', /neither a built-in template/],
    [[good, empty], 'templates[1]', /template\.json/],
    [[broken], 'templates[0]', /not a valid template pack/],
    [[good, same], 'templates[1]', /the id `dup-tee` of templates\[0\]/],
  ]
  for (const [templates, field, says] of cases) {
    const e = await rejectsWith(assert, RenderEngine.open(openOptions('bad-tpl', { templates })), 'E_VALIDATION')
    assert.equal(e.fields[0].field, field, e.message)
    assert.match(e.message, says)
    const thrown = throwsWith(assert, () => listTemplates(templates), 'E_VALIDATION')
    assert.equal(thrown.fields[0].field, field)
  }
  let e = await rejectsWith(assert, RenderEngine.open(openOptions('bad-tpl', { templates: good })), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'templates')
  e = await rejectsWith(assert, RenderEngine.open(openOptions('bad-tpl', { templates: [good, 7] })), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'templates[1]')
})

test('the stateless calls take the same packs: listTemplates, listPresets, compose', async () => {
  const pack = makePack('flat-tee')
  assert.deepEqual(listTemplates().map((t) => t.id), ['classic-tee', 'long-sleeve-tee', 'hoodie'])
  const listed = listTemplates([pack])
  assert.deepEqual(listed.map((t) => t.id), ['classic-tee', 'long-sleeve-tee', 'hoodie', 'flat-tee'])
  assert.match(listed[3].name, /test copy/)
  assert.deepEqual(listed[3].presets, listPresets(pack))
  assert.deepEqual(listPresets(pack), listPresets('classic-tee'))
  // A pack with the built-in id replaces the built-in one, as in the engine.
  const replaced = listTemplates([makePack('classic-tee', 'replacing')])
  assert.deepEqual(replaced.map((t) => t.id), ['long-sleeve-tee', 'hoodie', 'classic-tee'])
  assert.match(replaced[2].name, /test copy/)

  let e = throwsWith(assert, () => listPresets('no-such-tee'), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'template')
  e = throwsWith(assert, () => listPresets(7), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'template')
  e = throwsWith(assert, () => listTemplates(pack), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'templates')

  const composed = await compose(await solidPng(200, 200), { template: pack })
  assert.equal(composed.preflight.template, 'flat-tee')
})
