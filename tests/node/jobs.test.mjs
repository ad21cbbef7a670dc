// The job state machine for callers that persist jobs themselves.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'

import { throwsWith } from './fixtures.mjs'

const require = createRequire(import.meta.url)
const { applyEvent, canTransition } = require('../../index.js')

function pendingJob() {
  return {
    id: 'rjob_01JABCDEFGHJKMNPQRSTVWXYZ0',
    product_id: 'prod_1',
    variant_id: null,
    status: 'pending',
    design_file_url: 'file:///designs/a.png',
    composited_file_url: null,
    rendered_image_url: null,
    animation_url: null,
    preset: 'chest-large',
    template_id: null,
    error_code: null,
    error_message: null,
    attempt: 1,
    max_attempts: 3,
    started_at: null,
    completed_at: null,
    metadata: { shop: 'acme' },
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    deleted_at: null,
  }
}

test('canTransition follows the transition table', () => {
  assert.equal(canTransition('pending', 'compositing'), true)
  assert.equal(canTransition('compositing', 'rendering'), true)
  assert.equal(canTransition('rendering', 'completed'), true)
  assert.equal(canTransition('failed', 'pending'), true)
  assert.equal(canTransition('pending', 'completed'), false)
  assert.equal(canTransition('completed', 'pending'), false)
  assert.equal(canTransition('cancelled', 'pending'), false)
})

test('canTransition refuses unknown statuses and wrong types with E_VALIDATION', () => {
  let e = throwsWith(assert, () => canTransition('pending', 'done'), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'to')
  assert.match(e.message, /compositing/)
  e = throwsWith(assert, () => canTransition(1, 'pending'), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'from')
  throwsWith(assert, () => canTransition(), 'E_VALIDATION')
})

test('applyEvent carries a job through its lifecycle without changing the input', () => {
  const job = pendingJob()
  const t0 = new Date('2026-01-01T00:01:00.000Z')
  const compositing = applyEvent(job, { type: 'start_compositing' }, t0)
  assert.equal(job.status, 'pending')
  assert.equal(compositing.status, 'compositing')
  assert.equal(compositing.attempt, 1)
  assert.equal(new Date(compositing.started_at).getTime(), t0.getTime())
  const composited = applyEvent(compositing, { type: 'composited', composited_file_url: 'file:///a.png' }, '2026-01-01T00:02:00Z')
  assert.equal(composited.composited_file_url, 'file:///a.png')
  const rendering = applyEvent(composited, { type: 'start_rendering' }, Date.parse('2026-01-01T00:03:00Z'))
  const done = applyEvent(rendering, { type: 'completed', rendered_image_url: 'file:///front.png' })
  assert.equal(done.status, 'completed')
  assert.equal(done.rendered_image_url, 'file:///front.png')
  assert.ok(Date.parse(done.completed_at) >= Date.parse('2026-01-01T00:03:00Z'))
  assert.deepEqual(done.metadata, { shop: 'acme' })
})

test('applyEvent refuses events that do not apply with E_INVALID_TRANSITION', () => {
  const e = throwsWith(assert, () => applyEvent(pendingJob(), { type: 'start_rendering' }), 'E_INVALID_TRANSITION')
  assert.match(e.message, /pending/)
  const failed = applyEvent(pendingJob(), { type: 'fail', code: 'E_IO', message: 'disk full' })
  assert.equal(failed.status, 'failed')
  assert.equal(failed.error_code, 'E_IO')
  const retried = applyEvent(failed, { type: 'retry' })
  assert.equal(retried.status, 'pending')
})

test('applyEvent refuses malformed jobs, events and times with E_VALIDATION', () => {
  let e = throwsWith(assert, () => applyEvent({ id: 'x' }, { type: 'cancel' }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'job')
  e = throwsWith(assert, () => applyEvent(pendingJob(), { type: 'explode' }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'event')
  e = throwsWith(assert, () => applyEvent(pendingJob(), 'cancel'), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'event')
  e = throwsWith(assert, () => applyEvent(pendingJob(), { type: 'cancel' }, 'yesterday'), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'now')
  e = throwsWith(assert, () => applyEvent(null, { type: 'cancel' }), 'E_VALIDATION')
  assert.equal(e.fields[0].field, 'job')
})
