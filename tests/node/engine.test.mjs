// RenderEngine on SQLite: a full job from createJob to completed, with progress events,
// and the job methods' errors.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import { rejectsWith, solidPng, testEngineOptions, waitForJob } from './fixtures.mjs'

const require = createRequire(import.meta.url)
const { RenderEngine } = require('../../index.js')

const dir = mkdtempSync(join(tmpdir(), 'render-engine-node-'))
after(() => rmSync(dir, { recursive: true, force: true }))

async function openEngine(name) {
  return RenderEngine.open(testEngineOptions(dir, name))
}

test('a job goes from createJob to completed on SQLite, with progress events', async () => {
  const engine = await openEngine('full')
  const events = []
  engine.onProgress((event) => events.push(event))
  const design = await solidPng(600, 600, [30, 90, 200, 255])
  const created = await engine.createJob({
    product_id: 'prod_node',
    variant_id: 'variant_1',
    preset: 'chest-large',
    color: '#f3f4f6',
    metadata: { shop: 'acme' },
    design,
  })
  assert.equal(created.status, 'pending')
  assert.equal(created.progress, null, 'not running: no progress')
  assert.deepEqual(created.errors, [])
  assert.match(created.id, /^rjob_/)
  assert.equal(created.product_id, 'prod_node')
  assert.equal(created.variant_id, 'variant_1')
  assert.equal(typeof created.created_at, 'string')
  assert.ok(!Number.isNaN(Date.parse(created.created_at)))

  engine.start()
  engine.start() // a second start while running does nothing
  // Polled like an admin page would: the worker's progress, as recorded in the store.
  const seen = []
  const done = await waitForJob(engine, created.id, (j) => {
    if (j.progress) seen.push(j.progress)
    return ['completed', 'failed', 'cancelled'].includes(j.status)
  })
  assert.equal(done.status, 'completed', `${done.error_code}: ${done.error_message}`)
  assert.equal(done.progress, null, 'finished: no progress')
  assert.deepEqual(done.errors, [])
  for (const p of seen) {
    assert.equal(p.attempt, 1)
    assert.ok(['claimed', 'compositing', 'rendering', 'encoding', 'storing'].includes(p.stage), p.stage)
    assert.ok(p.percent >= 0 && p.percent <= 100)
    assert.equal(typeof p.message, 'string')
    assert.ok(!Number.isNaN(Date.parse(p.updated_at)))
  }
  assert.ok(done.composited_file_url)
  assert.ok(done.rendered_image_url)
  assert.equal(done.metadata.shop, 'acme')
  assert.ok(done.metadata.preflight)

  // Events arrive on the JS thread shortly after the job completes.
  const deadline = Date.now() + 5_000
  while (!events.some((e) => e.stage === 'completed') && Date.now() < deadline) await sleep(20)
  const mine = events.filter((e) => e.job_id === created.id)
  assert.ok(mine.length >= 3, `events: ${JSON.stringify(events)}`)
  assert.ok(mine.some((e) => e.stage === 'compositing'))
  assert.ok(mine.some((e) => e.stage === 'completed' && e.percent === 100))
  for (let i = 1; i < mine.length; i++) assert.ok(mine[i].percent >= mine[i - 1].percent)

  const page = await engine.listJobs({ product_id: 'prod_node', statuses: ['completed'] })
  assert.deepEqual(page.jobs.map((j) => j.id), [created.id])
  assert.equal(page.next_cursor, null)
  const summary = await engine.stop(5_000)
  assert.deepEqual(summary.completed, [created.id])
  engine.offProgress()
})

test('a corrupt design fails its job with the decoding code; retryJob puts it back in the queue', async () => {
  const engine = await openEngine('failing')
  const good = await solidPng(600, 600)
  // createJob decodes the whole design and refuses a corrupt one (plugin.test.mjs); a
  // design that changed in the storage afterwards fails its job for good at the worker.
  const job = await engine.createJob({ product_id: 'prod_bad', preset: 'chest-large', design: good })
  writeFileSync(fileURLToPath(job.design_file_url), good.subarray(0, good.length - 30))
  engine.start()
  const failed = await waitForJob(engine, job.id, (j) => j.status === 'failed')
  assert.equal(failed.error_code, 'E_IMAGE_DECODE')
  assert.ok(failed.error_message)
  await engine.stop(5_000)
  const retried = await engine.retryJob(job.id)
  assert.equal(retried.status, 'pending')
  assert.equal(retried.attempt, failed.attempt + 1)
  // The failed attempt's error stays visible after the retry cleared error_code.
  assert.equal(retried.error_code, null)
  assert.equal(retried.errors.length, 1)
  assert.equal(retried.errors[0].attempt, failed.attempt)
  assert.equal(retried.errors[0].code, 'E_IMAGE_DECODE')
  assert.ok(!Number.isNaN(Date.parse(retried.errors[0].at)))
})

test('job methods: cancel, retry, delete and their errors', async () => {
  const engine = await openEngine('methods')
  const design = await solidPng(64, 64)
  const job = await engine.createJob({ product_id: 'prod_2', preset: 'back-small', design })
  const cancelled = await engine.cancelJob(job.id)
  assert.equal(cancelled.status, 'cancelled')
  assert.equal((await engine.cancelJob(job.id)).status, 'cancelled') // idempotent
  await rejectsWith(assert, engine.retryJob(job.id), 'E_INVALID_TRANSITION')
  const deleted = await engine.deleteJob(job.id)
  assert.ok(deleted.deleted_at)
  await rejectsWith(assert, engine.getJob(job.id), 'E_NOT_FOUND')
  const withDeleted = await engine.listJobs({ include_deleted: true })
  assert.equal(withDeleted.jobs.length, 1)
  assert.equal((await engine.listJobs()).jobs.length, 0)
  // Optional filter fields left undefined or null mean "no condition".
  const open = await engine.listJobs({
    product_id: undefined,
    statuses: undefined,
    include_deleted: undefined,
    limit: null,
    cursor: undefined,
  })
  assert.equal(open.jobs.length, 0)
  assert.equal((await engine.listJobs({ product_id: 'prod_2', include_deleted: true, statuses: null })).jobs.length, 1)

  let e = await rejectsWith(assert, engine.getJob(42), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'id')
  await rejectsWith(assert, engine.getJob('rjob_01JABCDEFGHJKMNPQRSTVWXYZ0'), 'E_NOT_FOUND')
  e = await rejectsWith(assert, engine.createJob({ product_id: 'p', preset: 'huge', design }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'preset')
  e = await rejectsWith(assert, engine.createJob({ product_id: 'p', preset: 'chest-large' }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'input')
  await rejectsWith(assert, engine.createJob({ product_id: 'p', preset: 'chest-large', design: Buffer.from('zz') }), 'E_UNSUPPORTED_FORMAT')
  await rejectsWith(assert, engine.createJob('job'), 'E_VALIDATION')
  e = await rejectsWith(assert, engine.listJobs({ statuses: ['done'] }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'filter.statuses[0]')
  assert.throws(() => engine.onProgress('not a function'), (err) => err.code === 'E_VALIDATION')
  await rejectsWith(assert, engine.stop('soon'), 'E_VALIDATION')
  assert.deepEqual((await engine.stop()).completed, [])
})

test('RenderEngine.open checks its options', async () => {
  let e = await rejectsWith(assert, RenderEngine.open(), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'options')
  e = await rejectsWith(assert, RenderEngine.open({ database: 'sqlite::memory:', dataDir: 7 }), 'E_VALIDATION')
  e = await rejectsWith(
    assert,
    RenderEngine.open({ database: `sqlite://${join(dir, 'x.db')}`, dataDir: join(dir, 'x'), renderer: 'povray' }),
    'E_VALIDATION',
  )
  assert.equal(e.fields[0].field, 'renderer')
  e = await rejectsWith(
    assert,
    RenderEngine.open({ database: `sqlite://${join(dir, 'y.db')}`, dataDir: join(dir, 'y'), jobTimeoutMs: -1 }),
    'E_VALIDATION',
  )
  assert.equal(e.fields[0].field, 'jobTimeoutMs')
})

test('renderer: blender opens with a live Blender and is E_RENDERER_UNAVAILABLE without one', async () => {
  const options = (name) => ({
    database: `sqlite://${join(dir, `${name}.db`)}`,
    dataDir: join(dir, name),
    renderer: 'blender',
  })
  process.env.BLENDER_PATH = join(dir, 'no-such-blender')
  try {
    const e = await rejectsWith(assert, RenderEngine.open(options('no-blender')), 'E_RENDERER_UNAVAILABLE')
    assert.match(e.message, /Blender/)
  } finally {
    delete process.env.BLENDER_PATH
  }
  // scripts/test installs Blender (scripts/ensure-blender), so CI takes this path.
  if (spawnSync('blender', ['--version']).status === 0) {
    const engine = await RenderEngine.open(options('blender'))
    assert.deepEqual((await engine.listJobs()).jobs, [])
  }
})
