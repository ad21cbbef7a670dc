// Every relative link of the documentation resolves: the file exists, and a `#anchor`
// names a heading of the page it points to.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { codeBlocks, headingAnchors, linkTargets } from './markdown.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/**
 * The pages checked, each with the folder its relative links start from.
 * bindings/node/README.md is packed as the npm package's README.md, at the package root
 * (the repository root), so its links start there.
 */
const pages = [
  { file: 'README.md', base: '.' },
  { file: 'CHANGELOG.md', base: '.' },
  { file: 'bindings/node/README.md', base: '.' },
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => ({ file: `docs/${f}`, base: 'docs' })),
]

/** The problems of the relative links of `page` (empty when every link resolves). */
function brokenLinks(page) {
  const markdown = readFileSync(join(root, page.file), 'utf8')
  const problems = []
  for (const { target, line } of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // https:, mailto:, ...
    const [pathPart, anchor] = target.split('#')
    const file = pathPart === '' ? join(root, page.file) : join(root, page.base, decodeURIComponent(pathPart))
    const where = `${page.file}:${line}: ${target}`
    if (!existsSync(file)) {
      problems.push(`${where}: no such file ${relative(root, file)}`)
      continue
    }
    if (anchor !== undefined) {
      if (!statSync(file).isFile() || !file.endsWith('.md')) {
        problems.push(`${where}: an anchor on something that is not a Markdown file`)
      } else if (!headingAnchors(readFileSync(file, 'utf8')).has(anchor)) {
        problems.push(`${where}: no heading #${anchor} in ${relative(root, file)}`)
      }
    }
  }
  return problems
}

test('every relative link in README.md, CHANGELOG.md, docs/ and the npm README resolves', () => {
  assert.ok(pages.length >= 10, `pages: ${pages.map((p) => p.file)}`)
  const problems = pages.flatMap(brokenLinks)
  assert.deepEqual(problems, [])
})

test('the link checker finds what it should (a stand-in page)', () => {
  const markdown = [
    '# Title',
    '## The state machine',
    'See [jobs](docs/jobs.md), [a section](#the-state-machine), ![img](docs/bake-fidelity.png),',
    '[web](https://example.com) and `[not a link](nowhere.md)`.',
    '```md',
    '[in a code block](nowhere-either.md)',
    '```',
  ].join('\n')
  assert.deepEqual(
    linkTargets(markdown).map((l) => l.target),
    ['docs/jobs.md', '#the-state-machine', 'docs/bake-fidelity.png', 'https://example.com'],
  )
  assert.ok(headingAnchors(markdown).has('the-state-machine'))
  assert.ok(headingAnchors('## Claims, leases and rescue').has('claims-leases-and-rescue'))
  assert.ok(headingAnchors('## `RenderEngine` API').has('renderengine-api'))
  assert.deepEqual(codeBlocks(markdown, 'md').length, 1)
})
