// The renderEngine module's service, as built by `medusa plugin:build`, on the real
// render-engine package: options, worker-mode rules, error mapping, the full preflight
// at creation, jobs on SQLite and on PostgreSQL, typed outputs, progress and events.
// PostgreSQL: TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import os from "node:os"
import path from "node:path"
import { after, describe, test } from "node:test"
import { crc32, deflateSync } from "node:zlib"

const require = createRequire(import.meta.url)
const built = path.resolve(import.meta.dirname, "../.medusa/server/src/modules/render-engine")
const { default: Service, outputsOf, engineOptionsOf } = require(path.join(built, "service.js"))
const { resolveOptions, deriveJobDatabaseUrl } = require(path.join(built, "options.js"))
const { toMedusaError } = require(path.join(built, "errors.js"))
const { MedusaError } = require("@medusajs/framework/utils")

const PG = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const dirs = []
const services = []
after(async () => {
  for (const s of services) await s.stopWorkers(2000).catch(() => {})
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function png(w, h, rgb = [200, 40, 40]) {
  const chunk = (t, d) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(d.length)
    const body = Buffer.concat([Buffer.from(t), d])
    const c = Buffer.alloc(4)
    c.writeUInt32BE(crc32(body) >>> 0)
    return Buffer.concat([len, body, c])
  }
  const raw = Buffer.alloc((w * 3 + 1) * h)
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(rgb, y * (w * 3 + 1) + 1 + x * 3)
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(h, 4)
  ihdr[8] = 8
  ihdr[9] = 2
  return Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))])
}

function logger() {
  const lines = []
  const log = (level) => (m) => lines.push(`${level} ${m}`)
  return { lines, info: log("info"), warn: log("warn"), error: log("error"), debug: log("debug") }
}

function makeService(options, { workerMode = "shared", events = [] } = {}) {
  const container = {
    logger: logger(),
    event_bus: { emit: async (m) => void events.push(m) },
    configModule: { projectConfig: { databaseUrl: PG, workerMode } },
  }
  const s = new Service(container, options)
  services.push(s)
  return s
}

function tmp() {
  const d = mkdtempSync(path.join(os.tmpdir(), "re-medusa-"))
  dirs.push(d)
  return d
}

async function until(what, fn, ms = 60_000, everyMs = 50) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const v = await fn()
    if (v) return v
    await new Promise((r) => setTimeout(r, everyMs))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe("options", () => {
  test("the job database defaults to Medusa's, in schema render_engine", () => {
    const o = resolveOptions({}, "postgres://postgres@127.0.0.1:5432/shop?sslmode=disable")
    assert.equal(o.jobDatabaseUrl, "postgres://postgres@127.0.0.1:5432/shop?sslmode=disable&schema=render_engine")
    assert.equal(o.concurrency, 2)
    assert.equal(o.renderer, "baked")
    assert.equal(o.maxDesignBytes, 10 * 1024 * 1024)
    assert.equal(deriveJobDatabaseUrl("postgres://h/db", "jobs"), "postgres://h/db?schema=jobs")
    assert.equal(resolveOptions({ jobSchema: "other" }, "postgres://h/db").jobDatabaseUrl, "postgres://h/db?schema=other")
    assert.equal(resolveOptions({ jobDatabaseUrl: "sqlite:///x/jobs.db" }, undefined).jobDatabaseUrl, "sqlite:///x/jobs.db")
    assert.ok(path.isAbsolute(resolveOptions({ dataDir: "rel" }, "postgres://h/db").dataDir))
  })
  test("bad options fail at boot with the field named", () => {
    assert.throws(() => resolveOptions({ concurrency: 0 }, "postgres://h/db"), /concurrency/)
    assert.throws(() => resolveOptions({ renderer: "povray" }, "postgres://h/db"), /renderer/)
    assert.throws(() => resolveOptions({ jobSchema: "Bad-Name" }, "postgres://h/db"), /jobSchema/)
    assert.throws(() => resolveOptions({ database: "postgres://h/db" }, "postgres://h/db"), /reserved by Medusa.*jobDatabaseUrl/)
    assert.throws(() => resolveOptions({}, undefined), /no `jobDatabaseUrl`/)
  })
  test("storage: a bad URL fails at boot naming `storage` and what to use", () => {
    const cases = [
      ["ftp://files.example.com/x", /storage: unsupported scheme `ftp:`.*s3:\/\/bucket/],
      ["relative/folder", /storage: `relative\/folder` is a relative path/],
      ["s3://Bad_Bucket/x", /storage: `bad_bucket`|storage: .*not a valid bucket name/],
      ["s3://key:secret@bucket/x", /storage: credentials do not belong in the storage URL.*AWS_ACCESS_KEY_ID/],
      ["s3://bucket/x?endpoint=localhost:9000", /storage: endpoint `localhost:9000` must be an http\(s\) URL/],
    ]
    for (const [storage, re] of cases) {
      assert.throws(() => resolveOptions({ storage }, "postgres://h/db"), (e) => {
        assert.match(e.message, /^medusa-plugin-render-engine: invalid plugin options: /)
        assert.match(e.message, re)
        return true
      }, storage)
    }
    assert.throws(() => resolveOptions({ publicBaseUrl: "cdn.example.com" }, "postgres://h/db"), /publicBaseUrl: use an http\(s\) URL/)
    assert.throws(() => resolveOptions({ presignExpiresSecs: 700_000 }, "postgres://h/db"), /presignExpiresSecs/)
    assert.throws(() => resolveOptions({ httpDesigns: { allowRanges: ["localhost"] } }, "postgres://h/db"), /httpDesigns.allowRanges.0: use an IP range in CIDR/)
    assert.throws(() => resolveOptions({ httpDesigns: "yes" }, "postgres://h/db"), /httpDesigns/)
  })
  test("storage, publicBaseUrl, presignExpiresSecs and httpDesigns reach RenderEngine.open", () => {
    const o = resolveOptions(
      {
        storage: "s3://shop-renders/prod?endpoint=http://127.0.0.1:5900&region=eu-west-1",
        publicBaseUrl: "https://cdn.example.com/renders",
        presignExpiresSecs: 3600,
        httpDesigns: { allowRanges: ["10.0.0.0/8"] },
      },
      "postgres://h/db"
    )
    const e = engineOptionsOf(o)
    assert.equal(e.storage, "s3://shop-renders/prod?endpoint=http://127.0.0.1:5900&region=eu-west-1")
    assert.equal(e.publicBaseUrl, "https://cdn.example.com/renders")
    assert.equal(e.presignExpiresSecs, 3600)
    assert.deepEqual(e.httpDesigns, { allowRanges: ["10.0.0.0/8"] })
    const d = engineOptionsOf(resolveOptions({ storage: "/srv/blobs" }, "postgres://h/db"))
    assert.equal(d.storage, "/srv/blobs")
    assert.equal(d.httpDesigns, false)
    assert.equal("publicBaseUrl" in d, false)
  })
  test("a storage URL the engine refuses fails at open with E_VALIDATION naming `storage`", async () => {
    const d = tmp()
    // Passes the plugin's checks; the engine refuses the unknown option.
    const s = makeService({ jobDatabaseUrl: `sqlite://${d}/jobs.db`, dataDir: path.join(d, "data"), storage: "s3://bucket-ok/x?colour=blue" })
    await s.migrateEngine()
    await assert.rejects(s.getEngine(), (e) => {
      assert.equal(e.code, "E_VALIDATION")
      assert.match(e.message, /storage/)
      return true
    })
  })
})

describe("design URLs", () => {
  test("refused with E_VALIDATION naming the option when httpDesigns is off", async () => {
    const d = tmp()
    const s = makeService({ jobDatabaseUrl: `sqlite://${d}/jobs.db`, dataDir: path.join(d, "data") })
    assert.equal(s.designUrlsEnabled(), false)
    await assert.rejects(
      s.createRenderJob({ design: "https://example.com/design.png", product_id: "prod_url", preset: "chest-large" }),
      (e) => e instanceof MedusaError && e.type === MedusaError.Types.INVALID_DATA && e.code === "E_VALIDATION" && /design_url: this store does not download designs.*httpDesigns/.test(e.message)
    )
    assert.equal(s.engine_, undefined, "nothing opened, no job")
  })
})

describe("workers follow Medusa's worker mode", () => {
  const dataDir = "/nonexistent-never-opened"
  test("shared and worker run workers, server does not; the option wins", () => {
    assert.equal(makeService({ dataDir }, { workerMode: "shared" }).workersEnabled(), true)
    assert.equal(makeService({ dataDir }, { workerMode: "worker" }).workersEnabled(), true)
    assert.equal(makeService({ dataDir }, { workerMode: "server" }).workersEnabled(), false)
    assert.equal(makeService({ dataDir, workers: false }, { workerMode: "shared" }).workersEnabled(), false)
    assert.equal(makeService({ dataDir, workers: true }, { workerMode: "server" }).workersEnabled(), true)
  })
  test("in server mode (Medusa's CLI commands) the start hook opens nothing", async () => {
    const d = tmp()
    const s = makeService({ jobDatabaseUrl: `sqlite://${d}/jobs.db`, dataDir: path.join(d, "data") }, { workerMode: "server" })
    await s.__hooks.onApplicationStart()
    assert.equal(s.engine_, undefined)
    const fs = await import("node:fs")
    assert.equal(fs.existsSync(path.join(d, "jobs.db")), false, "no job database created")
  })
})

describe("error mapping", () => {
  const err = (code, message, fields) => Object.assign(new Error(message), { code, fields })
  test("engine codes become MedusaError types with the code kept", () => {
    const cases = [
      ["E_VALIDATION", MedusaError.Types.INVALID_DATA],
      ["E_UNSUPPORTED_FORMAT", MedusaError.Types.INVALID_DATA],
      ["E_IMAGE_DECODE", MedusaError.Types.INVALID_DATA],
      ["E_IMAGE_TOO_LARGE", MedusaError.Types.INVALID_DATA],
      ["E_NOT_FOUND", MedusaError.Types.NOT_FOUND],
      ["E_INVALID_TRANSITION", MedusaError.Types.NOT_ALLOWED],
      ["E_STORE", MedusaError.Types.UNEXPECTED_STATE],
      ["E_INTERNAL", MedusaError.Types.UNEXPECTED_STATE],
    ]
    for (const [code, type] of cases) {
      const m = toMedusaError(err(code, "boom"))
      assert.ok(m instanceof MedusaError, code)
      assert.equal(m.type, type, code)
      assert.equal(m.code, code)
    }
    const v = toMedusaError(err("E_VALIDATION", "invalid job", [{ field: "preset", message: "unknown preset `x`" }]))
    assert.match(v.message, /preset: unknown preset `x`/)
    const plain = new Error("not ours")
    assert.equal(toMedusaError(plain), plain)
  })
})

for (const store of ["sqlite", "postgres"]) {
  describe(`jobs on ${store}`, () => {
    const d = tmp()
    const schema = `re_medusa_test_${process.pid}`
    const jobDatabaseUrl = store === "sqlite" ? `sqlite://${d}/jobs.db` : `${PG}?schema=${schema}`
    const events = []
    const s = makeService({ jobDatabaseUrl, dataDir: path.join(d, "data"), pollMs: 20, outputs: { turntable: false } }, { events })
    after(async () => {
      if (store === "postgres") {
        const { execFileSync } = await import("node:child_process")
        execFileSync("psql", [PG, "-q", "-c", `drop schema if exists ${schema} cascade`])
      }
    })

    test("opening never migrates the job tables; migrateEngine (db:migrate's script) does, once", async () => {
      await assert.rejects(s.getEngine(), (e) => {
        assert.ok(e instanceof MedusaError, String(e))
        assert.equal(e.code, "E_STORE")
        assert.match(e.message, /npx medusa db:migrate/)
        return true
      })
      if (store === "sqlite") {
        const fs = await import("node:fs")
        assert.equal(fs.existsSync(path.join(d, "jobs.db")), false, "no job database created by opening")
      }
      const first = await s.migrateEngine()
      assert.ok(first.applied.length > 0 && first.version >= first.applied.at(-1), JSON.stringify(first))
      const again = await s.migrateEngine()
      assert.deepEqual(again, { applied: [], version: first.version })
      await s.getEngine()
    })

    test("a design that does not decode is refused before any job exists", async () => {
      const good = png(300, 300)
      const broken = good.subarray(0, good.length - 40)
      await assert.rejects(
        s.createRenderJob({ design: broken, product_id: "prod_broken", preset: "chest-large" }),
        (e) => e instanceof MedusaError && e.type === MedusaError.Types.INVALID_DATA && e.code === "E_IMAGE_DECODE"
      )
      await assert.rejects(
        s.createRenderJob({ design: Buffer.from("hello"), product_id: "prod_broken", preset: "chest-large" }),
        (e) => e.code === "E_UNSUPPORTED_FORMAT"
      )
      await assert.rejects(
        s.createRenderJob({ design: good, product_id: "prod_broken", preset: "chest-large", template_id: "nope" }),
        (e) => e.code === "E_VALIDATION" && /template_id/.test(e.message)
      )
      const page = await s.listRenderJobs({ product_id: "prod_broken", statuses: undefined, cursor: undefined })
      assert.equal(page.jobs.length, 0)
    })

    test("a job runs to completed with typed outputs, progress and a completion event", async () => {
      const { job, preflight } = await s.createRenderJob({ design: png(1800, 1800), product_id: "prod_1", preset: "chest-large", color: "#112233" })
      assert.equal(job.status, "pending")
      assert.equal(Math.round(preflight.effective_dpi.x), 150)
      await s.startWorkers()
      await s.startWorkers() // idempotent
      const seen = []
      const done = await until("completed", async () => {
        const j = await s.retrieveRenderJob(job.id)
        if (j.progress) seen.push(j.progress)
        return j.status === "completed" ? j : null
      }, 60_000, 5)
      // The worker records its progress on the job (what the routes pass through).
      assert.ok(seen.length > 0, "progress seen on the job while it ran")
      assert.ok(seen.every((p) => p.attempt === 1 && p.percent >= 0 && p.percent <= 100 && typeof p.stage === "string"))
      assert.equal(done.progress, null)
      assert.deepEqual(done.errors, [])
      const outputs = outputsOf(done)
      assert.deepEqual(outputs.slice(0, 3).map((o) => o.name), ["front.png", "three-quarter.png", "back.png"])
      assert.ok(outputs.every((o) => o.size > 0 && o.content_type))
      assert.equal(outputs.find((o) => o.name === "print.png").kind, "print_file")
      const front = await s.readOutput(done, outputs[0])
      assert.equal(front.subarray(1, 4).toString(), "PNG")
      await until("the completion event", () => events.find((e) => e.name === "render_job.completed" && e.data.id === job.id))
      const page = await s.listRenderJobs({ product_id: "prod_1", statuses: ["completed"], limit: 10 })
      assert.deepEqual(page.jobs.map((j) => j.id), [job.id])
    })

    test("retry/cancel/delete map the engine's refusals", async () => {
      const [first] = (await s.listRenderJobs({ product_id: "prod_1" })).jobs
      await assert.rejects(s.retryRenderJob(first.id), (e) => e.type === MedusaError.Types.NOT_ALLOWED && e.code === "E_INVALID_TRANSITION")
      await assert.rejects(s.cancelRenderJob(first.id), (e) => e.code === "E_INVALID_TRANSITION")
      await s.deleteRenderJob(first.id)
      await assert.rejects(s.retrieveRenderJob(first.id), (e) => e.type === MedusaError.Types.NOT_FOUND && e.code === "E_NOT_FOUND")
      await s.stopWorkers(2000)
    })
  })
}

describe("storage on an S3 bucket (moto)", () => {
  // moto (scripts/ensure-moto) accepts any credentials.
  const endpoint = (process.env.RENDER_ENGINE_TEST_S3 ?? "http://127.0.0.1:5900").replace(/\/$/, "")
  test("a job's outputs are written to the bucket and read back through presigned URLs", async (t) => {
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: "AKIATESTMEDUSAPLUGIN", AWS_SECRET_ACCESS_KEY: "fake-secret-medusa", AWS_REGION: "us-east-1" })
    delete process.env.AWS_SESSION_TOKEN
    const bucket = `re-medusa-${Date.now()}-${Math.floor(Math.random() * 1e6)}`
    try {
      const res = await fetch(`${endpoint}/${bucket}`, { method: "PUT" })
      if (res.status !== 200) throw new Error(`PUT /${bucket} answered ${res.status}`)
    } catch (e) {
      if (process.env.CI === "true") throw new Error(`the S3 test server ${endpoint} is unusable under CI=true: ${e.message}`)
      t.skip(`the S3 test server ${endpoint} is unusable (${e.message}); run scripts/ensure-moto`)
      return
    }
    const d = tmp()
    const s = makeService({
      jobDatabaseUrl: `sqlite://${d}/jobs.db`,
      dataDir: path.join(d, "data"),
      storage: `s3://${bucket}/medusa?endpoint=${endpoint}&region=us-east-1`,
      presignExpiresSecs: 900,
      pollMs: 20,
      outputs: { turntable: false },
    })
    await s.migrateEngine()
    const { job } = await s.createRenderJob({ design: png(600, 600, [20, 120, 60]), product_id: "prod_s3", preset: "chest-large" })
    await s.startWorkers()
    const done = await until("completed", async () => {
      const j = await s.retrieveRenderJob(job.id)
      if (j.status === "failed") throw new Error(`${j.error_code} ${j.error_message}`)
      return j.status === "completed" ? j : null
    })
    await s.stopWorkers(2000)
    const outputs = outputsOf(done)
    assert.equal(outputs[0].name, "front.png")
    assert.match(outputs[0].url, new RegExp(`^${endpoint}/${bucket}/medusa/.*X-Amz-Expires=900`))
    const front = await s.readOutput(done, outputs[0])
    assert.equal(front.subarray(1, 4).toString(), "PNG")
    // Nothing written to the local data folder's blobs: the bucket holds them.
    const listing = await (await fetch(`${endpoint}/${bucket}?list-type=2&prefix=medusa/jobs/${job.id}/`)).text()
    assert.match(listing, new RegExp(`medusa/jobs/${job.id}/1/front.png`))
  })
})
