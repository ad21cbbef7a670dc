// RenderEngine.open's `storage`, `publicBaseUrl` and `presignExpiresSecs`: a job on an S3
// bucket (moto from scripts/ensure-moto, at RENDER_ENGINE_TEST_S3 or
// http://127.0.0.1:5900) with presigned output URLs, E_STORAGE at open for an
// unreachable endpoint, and E_VALIDATION naming the option for bad values.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'

import { rejectsWith, solidPng, testEngineOptions, waitForJob } from './fixtures.mjs'

const require = createRequire(import.meta.url)
const { RenderEngine } = require('../../index.js')

const dir = mkdtempSync(join(tmpdir(), 'render-engine-node-storage-'))
after(() => rmSync(dir, { recursive: true, force: true }))

// moto accepts any credentials; a recognisable secret shows if it leaks anywhere.
const SECRET = 'FAKE-SECRET-node-do-not-print-2b7d'
process.env.AWS_ACCESS_KEY_ID = 'AKIATESTRENDERNODE'
process.env.AWS_SECRET_ACCESS_KEY = SECRET
process.env.AWS_REGION = 'us-east-1'
delete process.env.AWS_SESSION_TOKEN

const endpoint = (process.env.RENDER_ENGINE_TEST_S3 ?? 'http://127.0.0.1:5900').replace(/\/$/, '')

/** A fresh bucket on the test server, or null (skip) when it does not answer. */
async function freshBucket(t) {
  const bucket = `re-node-${Date.now()}-${Math.floor(Math.random() * 1e6)}`
  try {
    const res = await fetch(`${endpoint}/${bucket}`, { method: 'PUT' })
    if (res.status !== 200) throw new Error(`PUT /${bucket} answered ${res.status}`)
    return bucket
  } catch (e) {
    if (process.env.CI === 'true') throw new Error(`the S3 test server ${endpoint} is unusable under CI=true: ${e.message}`)
    t.skip(`the S3 test server ${endpoint} is unusable (${e.message}); run scripts/ensure-moto`)
    return null
  }
}

test('a job on an S3 bucket completes with presigned output URLs', async (t) => {
  const bucket = await freshBucket(t)
  if (!bucket) return
  const storage = `s3://${bucket}/node?endpoint=${endpoint}&region=us-east-1`
  const engine = await RenderEngine.open(testEngineOptions(dir, 's3', { storage, presignExpiresSecs: 3600 }))
  const design = await solidPng(400, 300, [30, 90, 200, 255])
  const created = await engine.createJob({ product_id: 'prod_s3', preset: 'chest-large', design })
  assert.ok(created.design_file_url.startsWith(`${endpoint}/${bucket}/node/designs/`), created.design_file_url)
  engine.start()
  try {
    const job = await waitForJob(engine, created.id, (j) => ['completed', 'failed'].includes(j.status))
    assert.equal(job.status, 'completed', job.error_message)
    assert.ok(!JSON.stringify(job).includes(SECRET))
    const url = job.rendered_image_url
    assert.match(url, /X-Amz-Signature=/)
    assert.match(url, /X-Amz-Expires=3600/)
    const res = await fetch(url)
    assert.equal(res.status, 200)
    const bytes = Buffer.from(await res.arrayBuffer())
    assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47]) // PNG
  } finally {
    await engine.stop()
  }
})

test('an unreachable endpoint is E_STORAGE at open, naming the URL without credentials', async () => {
  const e = await rejectsWith(
    assert,
    RenderEngine.open(testEngineOptions(dir, 'dead', { storage: 's3://some-bucket/x?endpoint=http://127.0.0.1:9' })),
    'E_STORAGE',
  )
  assert.match(e.message, /s3:\/\/some-bucket\/x/)
  assert.ok(!e.message.includes(SECRET))
})

test('bad storage options are E_VALIDATION naming the option', async () => {
  const cases = [
    [{ storage: 's3://Bad_Bucket/x' }, 'storage'],
    [{ storage: 's3://bucket/x?colour=red' }, 'storage'],
    [{ storage: `s3://AKIA:${SECRET}@bucket/x` }, 'storage'],
    [{ storage: 'ftp://bucket/x' }, 'storage'],
    [{ presignExpiresSecs: 0 }, 'presignExpiresSecs'],
    [{ presignExpiresSecs: 604_801 }, 'presignExpiresSecs'],
    [{ storage: join(dir, 'folder'), publicBaseUrl: 'ftp://cdn' }, 'publicBaseUrl'],
  ]
  for (const [options, field] of cases) {
    const e = await rejectsWith(assert, RenderEngine.open(testEngineOptions(dir, 'bad', options)), 'E_VALIDATION')
    assert.equal(e.fields[0].field, field, `${JSON.stringify(options)}: ${e.message}`)
    assert.ok(!e.message.includes(SECRET), e.message)
  }
})
