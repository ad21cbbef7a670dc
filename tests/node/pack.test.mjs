// The npm package ships the npm README (bindings/node/README.md) as its README.md, and
// packing leaves the repository's README.md as it was, also when packing fails.
//
// Each test packs a copy of the package's own files in a temporary folder (package.json,
// the loader, the types, both READMEs, the licences and scripts/npm-readme.mjs), so the
// repository's README.md is never swapped while other test files read it.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const repoReadme = readFileSync(join(root, 'README.md'))
const npmReadme = readFileSync(join(root, 'bindings', 'node', 'README.md'))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

const work = mkdtempSync(join(tmpdir(), 'render-engine-pack-'))
after(() => rmSync(work, { recursive: true, force: true }))

/** A copy of the package's files in a new folder under `work`; `edit` may change package.json. */
function packageCopy(name, edit = (pkg) => pkg) {
  const dir = join(work, name)
  for (const file of ['index.js', 'index.d.ts', 'README.md', 'LICENSE-MIT', 'LICENSE-APACHE', 'scripts/npm-readme.mjs', 'bindings/node/README.md']) {
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    cpSync(join(root, file), join(dir, file))
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify(edit(pkg), null, 2))
  return dir
}

function npmPack(dir, args) {
  return spawnSync(npm, ['pack', ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
}

/** Asserts `dir` holds the repository README again and no backup, waiting up to 10 s. */
async function assertRestored(dir) {
  const deadline = Date.now() + 10_000
  while (existsSync(join(dir, '.README.md.repo-backup')) && Date.now() < deadline) await sleep(100)
  assert.ok(!existsSync(join(dir, '.README.md.repo-backup')), 'the backup is still there')
  assert.ok(readFileSync(join(dir, 'README.md')).equals(repoReadme), 'README.md is not the repository README')
}

test('the two READMEs differ (otherwise the checks below prove nothing)', () => {
  assert.ok(!repoReadme.equals(npmReadme))
  assert.match(npmReadme.toString(), /npm install render-engine/)
})

test('npm pack --dry-run --json lists the npm README as README.md', async () => {
  const dir = packageCopy('dry-run')
  const run = npmPack(dir, ['--dry-run', '--json'])
  assert.equal(run.status, 0, run.stderr)
  const [report] = JSON.parse(run.stdout)
  const readme = report.files.find((f) => f.path === 'README.md')
  assert.ok(readme, `packed files: ${report.files.map((f) => f.path)}`)
  assert.equal(readme.size, npmReadme.length, 'the packed README.md has the npm README\'s size')
  assert.ok(!report.files.some((f) => f.path.includes('repo-backup') || f.path.startsWith('bindings/')))
  await assertRestored(dir)
})

test('a real npm pack puts the npm README in the tarball', async () => {
  const dir = packageCopy('real')
  const run = npmPack(dir, ['--json', '--pack-destination', dir])
  assert.equal(run.status, 0, run.stderr)
  const [report] = JSON.parse(run.stdout)
  const packed = execFileSync('tar', ['-xOzf', join(dir, report.filename), 'package/README.md'])
  assert.ok(packed.equals(npmReadme), 'the tarball\'s README.md is not bindings/node/README.md')
  await assertRestored(dir)
})

test('a pack that fails after prepack still gets the repository README back', async () => {
  // postpack never runs here: the watcher started by `swap` restores once npm exits.
  const dir = packageCopy('failing', (pkg) => {
    pkg.scripts.prepack = `${pkg.scripts.prepack} && exit 3`
    return pkg
  })
  const run = npmPack(dir, ['--dry-run', '--json'])
  assert.notEqual(run.status, 0, 'the pack was meant to fail')
  await assertRestored(dir)
})

test('a swap left behind is repaired by the next pack', async () => {
  const dir = packageCopy('leftover')
  // What a machine that died mid-pack leaves: the npm README in place, the backup beside it.
  cpSync(join(dir, 'README.md'), join(dir, '.README.md.repo-backup'))
  cpSync(join(dir, 'bindings/node/README.md'), join(dir, 'README.md'))
  const run = npmPack(dir, ['--dry-run', '--json'])
  assert.equal(run.status, 0, run.stderr)
  const [report] = JSON.parse(run.stdout)
  assert.equal(report.files.find((f) => f.path === 'README.md').size, npmReadme.length)
  await assertRestored(dir)
})
