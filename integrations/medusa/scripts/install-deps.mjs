// Installs a project's dependencies (the plugin or the example store) from its committed
// package-lock.json with `npm ci`, reproducibly and idempotently:
//   - the locally built tarballs (`file:...tgz` dependencies: render-engine, the plugin)
//     are rebuilt on every run, so their lock entries carry no `integrity` (npm would
//     refuse or keep the old content otherwise); an integrity found there is removed;
//   - when package.json and the lockfile are unchanged since the last install (a stamp
//     in node_modules), everything else is already what the lock says: only the tarball
//     packages are replaced by their current content, in a second instead of a minute.
// Usage: node install-deps.mjs <project dir>
import { createHash } from "node:crypto"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import path from "node:path"

const dir = path.resolve(process.argv[2] ?? ".")
const pkgPath = path.join(dir, "package.json")
const lockPath = path.join(dir, "package-lock.json")
const stampPath = path.join(dir, "node_modules", ".render-engine-install-stamp")
const log = (m) => console.error(`install-deps (${path.basename(dir)}): ${m}`)

if (!existsSync(lockPath)) {
  log(`no package-lock.json in ${dir}: run 'npm install' there once and commit the lockfile`)
  process.exit(1)
}
const pkg = JSON.parse(readFileSync(pkgPath, "utf8"))
const tarballs = Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })
  .filter(([, spec]) => typeof spec === "string" && spec.startsWith("file:") && spec.endsWith(".tgz"))
  .map(([name, spec]) => ({ name, file: path.resolve(dir, spec.slice("file:".length)) }))
for (const t of tarballs) {
  if (!existsSync(t.file)) {
    log(`${t.name}: ${t.file} is missing (prepare-store packs it first)`)
    process.exit(1)
  }
}

// The tarballs' lock entries must not pin content.
const lock = JSON.parse(readFileSync(lockPath, "utf8"))
let unpinned = []
for (const t of tarballs) {
  const entry = lock.packages?.[`node_modules/${t.name}`]
  if (entry?.integrity) {
    delete entry.integrity
    unpinned.push(t.name)
  }
}
if (unpinned.length) {
  writeFileSync(lockPath, JSON.stringify(lock, null, 2) + "\n")
  log(`removed the integrity of ${unpinned.join(", ")} from package-lock.json (local tarballs change with every build); commit that`)
}

const stamp = createHash("sha256")
  .update(readFileSync(pkgPath))
  .update(readFileSync(lockPath))
  .update(process.version)
  .digest("hex")
const current = existsSync(stampPath) ? readFileSync(stampPath, "utf8").trim() : null

if (current === stamp) {
  // Everything but the tarballs is as the lock says: refresh those only.
  for (const t of tarballs) {
    const target = path.join(dir, "node_modules", t.name)
    rmSync(target, { recursive: true, force: true })
    mkdirSync(target, { recursive: true })
    execFileSync("tar", ["-xzf", t.file, "--strip-components=1", "-C", target])
  }
  log(`lockfile unchanged: refreshed ${tarballs.map((t) => t.name).join(", ") || "nothing"}`)
} else {
  log("npm ci")
  execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, stdio: "inherit" })
  writeFileSync(stampPath, stamp + "\n")
}
