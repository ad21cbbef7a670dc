// What the package gives a plugin (issue 17 point 6): typed outputs and preflight on the
// job, readOutput / outputUrl, onProgress's own unsubscribe, explicit migrations, the
// completed_after filter, and designs decoded completely at createJob.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import sharp from 'sharp'

import { rejectsWith, solidPng, testEngineOptions, waitForJob } from './fixtures.mjs'

const require = createRequire(import.meta.url)
const { RenderEngine } = require('../../index.js')

const dir = mkdtempSync(join(tmpdir(), 'render-engine-plugin-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** Every file under `folder` (none when it does not exist). */
function files(folder) {
  if (!existsSync(folder)) return []
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name)
    return statSync(path).isDirectory() ? files(path) : [path]
  })
}

test('a completed job carries typed outputs and preflight; readOutput and outputUrl serve them', async () => {
  const engine = await RenderEngine.open(testEngineOptions(dir, 'outputs'))
  // 300 px over a 12-inch print area: a low-resolution warning.
  const created = await engine.createJob({ product_id: 'prod_out', preset: 'chest-large', design: await solidPng(300, 200) })
  assert.deepEqual(created.outputs, [], 'pending: no outputs')
  assert.equal(created.preflight, null)
  let e = await rejectsWith(assert, engine.readOutput(created.id, 'front.png'), 'E_CONFLICT')
  assert.match(e.message, /pending/)
  await rejectsWith(assert, engine.outputUrl(created.id, 'front.png'), 'E_CONFLICT')
  const startedAt = new Date().toISOString()

  engine.start()
  const done = await waitForJob(engine, created.id, (j) => ['completed', 'failed'].includes(j.status))
  await engine.stop(5_000)
  assert.equal(done.status, 'completed', `${done.error_code}: ${done.error_message}`)
  assert.deepEqual(
    done.outputs.map((o) => [o.name, o.kind, o.content_type]),
    [
      ['atlas.png', 'atlas', 'image/png'],
      ['print.png', 'print_file', 'image/png'],
      ['front.png', 'still_front', 'image/png'],
    ],
  )
  assert.equal(done.outputs.find((o) => o.kind === 'still_front').url, done.rendered_image_url)
  // metadata.outputs stays, for compatibility.
  assert.deepEqual(done.metadata.outputs.map((o) => o.name), done.outputs.map((o) => o.name))
  assert.ok(done.preflight.effective_dpi.x > 0 && done.preflight.effective_dpi.x < 150)
  assert.equal(done.preflight.print_dpi, 300)
  const low = done.preflight.warnings.find((w) => w.code === 'W_LOW_RESOLUTION')
  assert.ok(low, JSON.stringify(done.preflight))
  assert.ok(['warning', 'severe'].includes(low.severity))
  assert.equal(typeof low.message, 'string')

  for (const output of done.outputs) {
    const bytes = await engine.readOutput(done.id, output.name)
    assert.ok(Buffer.isBuffer(bytes))
    assert.equal(bytes.length, output.size)
    assert.equal((await sharp(bytes).metadata()).format, 'png')
    assert.equal(await engine.outputUrl(done.id, output.name), output.url)
  }
  e = await rejectsWith(assert, engine.readOutput(done.id, 'poster.png'), 'E_NOT_FOUND')
  assert.match(e.message, /poster\.png/)
  await rejectsWith(assert, engine.readOutput('rjob_01JABCDEFGHJKMNPQRSTVWXYZ0', 'front.png'), 'E_NOT_FOUND')
  await rejectsWith(assert, engine.outputUrl('rjob_01JABCDEFGHJKMNPQRSTVWXYZ0', 'front.png'), 'E_NOT_FOUND')
  e = await rejectsWith(assert, engine.readOutput(done.id), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'name')
  e = await rejectsWith(assert, engine.outputUrl(7, 'front.png'), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'jobId')

  // completed_after, with the other optional fields left undefined.
  const since = await engine.listJobs({ completed_after: startedAt, product_id: undefined, created_after: undefined })
  assert.deepEqual(since.jobs.map((j) => j.id), [done.id])
  const later = new Date(Date.parse(done.completed_at) + 1000).toISOString()
  assert.deepEqual((await engine.listJobs({ completed_after: later })).jobs, [])
  assert.equal((await engine.listJobs({ completed_after: undefined })).jobs.length, 1)
  e = await rejectsWith(assert, engine.listJobs({ completed_after: 'yesterday' }), 'E_VALIDATION')
  assert.match(e.fields[0].field, /completed_after/)
})

test('createJob refuses a truncated PNG or a corrupt JPEG and stores nothing', async () => {
  const name = 'refused'
  const engine = await RenderEngine.open(testEngineOptions(dir, name))
  const png = await solidPng(400, 300, [10, 120, 40, 255])
  const jpeg = await sharp(png).jpeg({ quality: 90 }).toBuffer()
  const corruptJpeg = Buffer.from(jpeg)
  const sos = corruptJpeg.indexOf(Buffer.from([0xff, 0xda]))
  for (let i = sos + 20; i < corruptJpeg.length - 2; i++) corruptJpeg[i] = i % 2 === 0 ? 0xff : 0xc4
  for (const [what, design] of [
    ['truncated PNG', png.subarray(0, Math.floor(png.length * 0.6))],
    ['PNG without its last bytes', png.subarray(0, png.length - 30)],
    ['corrupt JPEG', corruptJpeg],
  ]) {
    const e = await rejectsWith(assert, engine.createJob({ product_id: 'p', preset: 'chest-large', design }), 'E_IMAGE_DECODE')
    assert.ok(e.message.length > 20, `${what}: ${e.message}`)
  }
  assert.deepEqual((await engine.listJobs({ include_deleted: true })).jobs, [], 'no job was created')
  assert.deepEqual(files(join(dir, name, 'blobs')), [], 'no blob was stored')
  // The intact files are accepted.
  await engine.createJob({ product_id: 'p', preset: 'chest-large', design: png })
  await engine.createJob({ product_id: 'p', preset: 'chest-large', design: jpeg })
  assert.equal((await engine.listJobs()).jobs.length, 2)
})

test('onProgress returns its own unsubscribe; offProgress(cb) removes only that callback', async () => {
  const engine = await RenderEngine.open(testEngineOptions(dir, 'progress'))
  const a = []
  const b = []
  const c = []
  const onA = (event) => a.push(event)
  const onB = (event) => b.push(event)
  const unsubscribeA = engine.onProgress(onA)
  assert.equal(typeof unsubscribeA, 'function')
  engine.onProgress(onB)
  const unsubscribeC = engine.onProgress((event) => c.push(event))
  engine.offProgress(onB) // only B
  unsubscribeC() // only C
  unsubscribeC() // a second call does nothing
  engine.offProgress(() => {}) // never registered: nothing
  assert.throws(() => engine.offProgress('onA'), (err) => err.code === 'E_VALIDATION')

  const job = await engine.createJob({ product_id: 'p', preset: 'back-small', design: await solidPng(64, 64) })
  engine.start()
  await waitForJob(engine, job.id, (j) => j.status === 'completed')
  const deadline = Date.now() + 5_000
  while (!a.some((e) => e.stage === 'completed') && Date.now() < deadline) await sleep(20)
  await engine.stop(5_000)
  assert.ok(a.some((e) => e.job_id === job.id && e.stage === 'completed'), 'A still listens')
  assert.deepEqual(b, [], 'offProgress(onB) removed B')
  assert.deepEqual(c, [], 'the unsubscribe function removed C')

  // offProgress() without a callback still removes every one.
  const d = []
  engine.onProgress((event) => d.push(event))
  engine.offProgress()
  unsubscribeA()
  const second = await engine.createJob({ product_id: 'p2', preset: 'back-small', design: await solidPng(65, 64) })
  const before = a.length
  engine.start()
  await waitForJob(engine, second.id, (j) => j.status === 'completed')
  await sleep(200)
  await engine.stop(5_000)
  assert.deepEqual(d, [])
  assert.equal(a.length, before)
})

test('migrations as a step of their own: RenderEngine.migrate and open({ migrate: false })', async () => {
  const database = `sqlite://${join(dir, 'migrated.db')}`
  const options = { database, dataDir: join(dir, 'migrated'), migrate: false }
  let e = await rejectsWith(assert, RenderEngine.open(options), 'E_STORE')
  assert.match(e.message, /render-engine migrate --database/)
  assert.match(e.message, /RenderEngine\.migrate\(/)
  assert.ok(!existsSync(join(dir, 'migrated.db')), 'open({ migrate: false }) created no database')

  const report = await RenderEngine.migrate({ database })
  assert.deepEqual(report, { applied: [1, 2, 3], version: 3 })
  assert.deepEqual(await RenderEngine.migrate({ database }), { applied: [], version: 3 })
  const engine = await RenderEngine.open(options)
  assert.deepEqual((await engine.listJobs()).jobs, [])
  // The default still migrates on open (the README's quick start).
  const fresh = await RenderEngine.open({ database: `sqlite://${join(dir, 'fresh.db')}`, dataDir: join(dir, 'fresh') })
  assert.deepEqual((await fresh.listJobs()).jobs, [])

  e = await rejectsWith(assert, RenderEngine.migrate(), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'options')
  e = await rejectsWith(assert, RenderEngine.migrate({ database: 'mysql://x' }), 'E_VALIDATION')
  await rejectsWith(assert, RenderEngine.open({ ...options, migrate: 'no' }), 'E_VALIDATION')
})
