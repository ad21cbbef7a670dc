// No Rust panic takes the Node process down: a panic inside a native call becomes an
// E_INTERNAL error (thrown, or a rejected promise) and the process keeps working. The
// panics are forced through test-only hooks (enabled by RENDER_ENGINE_TEST_PANICS=1) in a
// child process, so a regression (an abort) kills the child, not the test runner.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const pkg = fileURLToPath(new URL('../../index.js', import.meta.url))

const child = `
const engine = require(${JSON.stringify(pkg)})
const seen = {}
const code = (e) => ({ code: e.code, message: e.message })
;(async () => {
  try { engine.__testPanicSync() ; seen.sync = 'returned' } catch (e) { seen.sync = code(e) }
  try { await engine.__testPanicTask() ; seen.task = 'resolved' } catch (e) { seen.task = code(e) }
  try { await engine.__testPanicFuture() ; seen.future = 'resolved' } catch (e) { seen.future = code(e) }
  // The same process still works: a real synchronous and a real asynchronous call.
  seen.after = engine.canTransition('pending', 'compositing')
  seen.presets = (await Promise.resolve(engine.listPresets())).length
  const db = await engine.RenderEngine.open({ database: 'memory:', dataDir: require('node:os').tmpdir() + '/re-panic-' + process.pid })
  seen.jobs = (await db.listJobs()).jobs.length
  process.stdout.write(JSON.stringify(seen))
})()
`

function runChild(env) {
  return spawnSync(process.execPath, ['-e', child], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  })
}

test('a panic in a sync call, a thread-pool task or a runtime future is E_INTERNAL and the process lives on', () => {
  const run = runChild({ RENDER_ENGINE_TEST_PANICS: '1' })
  assert.equal(run.signal, null, `the child was killed by ${run.signal}: ${run.stderr}`)
  assert.equal(run.status, 0, run.stderr)
  const seen = JSON.parse(run.stdout)
  for (const path of ['sync', 'task', 'future']) {
    assert.equal(seen[path].code, 'E_INTERNAL', `${path}: ${JSON.stringify(seen[path])}`)
    assert.match(seen[path].message, /panic inside render-engine/)
  }
  assert.equal(seen.after, true)
  assert.equal(seen.presets, 3)
  assert.equal(seen.jobs, 0)
})

test('the panic hooks are refused without RENDER_ENGINE_TEST_PANICS=1', () => {
  const run = runChild({ RENDER_ENGINE_TEST_PANICS: '' })
  assert.equal(run.status, 0, run.stderr)
  const seen = JSON.parse(run.stdout)
  for (const path of ['sync', 'task', 'future']) {
    assert.equal(seen[path].code, 'E_VALIDATION', `${path}: ${JSON.stringify(seen[path])}`)
  }
})
