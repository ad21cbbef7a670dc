// Removes the lockfile entries (and installed copies) of packages installed from local
// tarballs, so `npm install` takes the tarball's current content: npm pins a tarball by
// its integrity and would keep installing the old content of a rebuilt tarball.
// Usage: node drop-lock-entries.mjs <project dir> <package>...
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import path from "node:path"

const [dir, ...names] = process.argv.slice(2)
const lockPath = path.join(dir, "package-lock.json")
if (existsSync(lockPath)) {
  const lock = JSON.parse(readFileSync(lockPath, "utf8"))
  for (const name of names) {
    delete lock.packages?.[`node_modules/${name}`]
    delete lock.dependencies?.[name]
  }
  writeFileSync(lockPath, JSON.stringify(lock, null, 2) + "\n")
}
for (const name of names) {
  rmSync(path.join(dir, "node_modules", name), { recursive: true, force: true })
}
