// The JS examples of the documentation run against the built package, so they cannot
// rot: every ```js block of README.md, the npm README (bindings/node/README.md) and
// docs/node.md is a complete ES module program, run as a user would run it.
//
// Each block runs in its own temporary folder, as `example.mjs`, with the package
// linked in as `node_modules/render-engine` (so `import ... from 'render-engine'` works
// as in a user's project) and the inputs the examples name: `design.png` (the sample
// badge), `photo.jpg` and `mask.png` (the example photo pack). A block fails its test
// when it exits non-zero, e.g. on a rejected Promise or a thrown error.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { codeBlocks } from './markdown.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const pages = ['README.md', 'bindings/node/README.md', 'docs/node.md']
const inputs = {
  'design.png': 'examples/designs/sunset-badge.png',
  'photo.jpg': 'examples/photo-pack/photo.jpg',
  'mask.png': 'examples/photo-pack/mask.png',
}

const work = mkdtempSync(join(tmpdir(), 'render-engine-readme-'))
after(() => rmSync(work, { recursive: true, force: true }))

/** A fresh folder with the package linked in and the inputs copied. */
function projectFolder(name) {
  const dir = join(work, name)
  mkdirSync(join(dir, 'node_modules'), { recursive: true })
  symlinkSync(root, join(dir, 'node_modules', 'render-engine'), 'dir')
  for (const [to, from] of Object.entries(inputs)) copyFileSync(join(root, from), join(dir, to))
  return dir
}

test('the extraction finds js blocks and nothing else (a stand-in page)', () => {
  const page = [
    '# A page',
    '```js',
    "import { compose } from 'render-engine'",
    '```',
    '```sh',
    'npm test',
    '```',
    '```json',
    '{ "js": true }',
    '```',
    '````js',
    'const fence = "```"',
    '````',
    '   ```js title="indented"',
    'console.log(1)',
    '   ```',
  ].join('\n')
  const blocks = codeBlocks(page, 'js')
  assert.deepEqual(
    blocks.map((b) => [b.line, b.code]),
    [
      [2, "import { compose } from 'render-engine'\n"],
      [11, 'const fence = "```"\n'],
      [14, 'console.log(1)\n'],
    ],
  )
})

test('README.md and the npm README have JS examples that use the package', () => {
  for (const page of ['README.md', 'bindings/node/README.md']) {
    const blocks = codeBlocks(readFileSync(join(root, page), 'utf8'), 'js')
    assert.ok(blocks.length >= 1, `${page} has no js block`)
    for (const b of blocks) assert.match(b.code, /from 'render-engine'/, `${page}:${b.line} does not import the package`)
  }
})

for (const page of pages) {
  const blocks = codeBlocks(readFileSync(join(root, page), 'utf8'), 'js')
  for (const block of blocks) {
    test(`${page}:${block.line} runs`, { timeout: 600_000 }, () => {
      const dir = projectFolder(`${page.replace(/[^a-z0-9]+/gi, '-')}-${block.line}`)
      writeFileSync(join(dir, 'example.mjs'), block.code)
      const run = spawnSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8', timeout: 590_000 })
      assert.equal(
        run.status,
        0,
        `${page}:${block.line} exited with ${run.status ?? run.signal}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`,
      )
    })
  }
}
