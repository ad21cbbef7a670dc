// Ships the npm README (bindings/node/README.md) in the npm package instead of the
// repository's README.md.
//
// npm always packs the README.md of the package root, and the package root is the
// repository root. So `prepack` swaps the npm README in and `postpack` puts the
// repository's back:
//
//   node scripts/npm-readme.mjs swap      (prepack)
//   node scripts/npm-readme.mjs restore   (postpack)
//
// npm skips `postpack` when packing fails, so `swap` also starts a small detached
// watcher that restores the repository README as soon as the npm process exits, however
// it exits. And `swap` first repairs a swap left behind by anything that still got
// past both (a killed machine): the repository README is kept in a backup file until it
// is restored. Messages go to stderr: `npm pack --json` prints its JSON on stdout.
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync, renameSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const readme = join(root, 'README.md')
const npmReadme = join(root, 'bindings', 'node', 'README.md')
const backup = join(root, '.README.md.repo-backup')

/** Puts the repository README back, if it is swapped out. */
function restore() {
  if (existsSync(backup)) {
    renameSync(backup, readme)
    console.error('npm-readme: restored the repository README.md')
  }
}

/** Whether process `pid` is still running. */
function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === 'EPERM'
  }
}

/**
 * The npm process that runs this script: the parent, or the parent's parent when a
 * shell stands in between (`sh -c "node scripts/npm-readme.mjs swap"`).
 */
function npmPid() {
  const parent = process.ppid
  try {
    const comm = readFileSync(`/proc/${parent}/comm`, 'utf8').trim()
    if (['sh', 'bash', 'dash', 'zsh'].includes(comm)) {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces.
      const stat = readFileSync(`/proc/${parent}/stat`, 'utf8')
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    }
  } catch {
    // No /proc (not Linux): the parent is the best guess.
  }
  return parent
}

const mode = process.argv[2]
if (mode === 'swap') {
  restore() // a swap left behind by an earlier run
  copyFileSync(readme, backup)
  copyFileSync(npmReadme, readme)
  console.error('npm-readme: packing bindings/node/README.md as README.md')
  const watcher = spawn(process.execPath, [fileURLToPath(import.meta.url), 'watch', String(npmPid())], {
    detached: true,
    stdio: 'ignore',
  })
  watcher.unref()
} else if (mode === 'restore') {
  restore()
} else if (mode === 'watch') {
  const pid = Number(process.argv[3])
  const giveUp = Date.now() + 60 * 60 * 1000
  const timer = setInterval(() => {
    if (!alive(pid) || Date.now() > giveUp) {
      clearInterval(timer)
      restore()
    }
  }, 200)
} else {
  console.error('usage: node scripts/npm-readme.mjs swap|restore')
  process.exit(2)
}
