// Shared by the example store's tests: a PNG maker, the store's URL, admin login and
// a small API client. The tests talk to a real `medusa start` of this store.
import { crc32, deflateSync } from "node:zlib"

export const STORE_URL = process.env.STORE_URL ?? "http://127.0.0.1:9000"
export const ADMIN_EMAIL = process.env.DEMO_ADMIN_EMAIL ?? "admin@example.com"
export const ADMIN_PASSWORD = process.env.DEMO_ADMIN_PASSWORD ?? "supersecret"

function chunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, "ascii"), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body) >>> 0)
  return Buffer.concat([len, body, crc])
}

/**
 * An RGBA PNG: a coloured disc on a transparent background with a stripe, so every
 * design differs by `hue` (distinct fingerprints: the engine does not reuse work).
 */
export function makePng(width, height, hue = 0) {
  const raw = Buffer.alloc((width * 4 + 1) * height)
  const r = Math.min(width, height) * 0.45
  const [cr, cg, cb] = [
    Math.round(127 + 127 * Math.cos(hue)),
    Math.round(127 + 127 * Math.cos(hue + 2.1)),
    Math.round(127 + 127 * Math.cos(hue + 4.2)),
  ]
  for (let y = 0; y < height; y++) {
    const row = y * (width * 4 + 1)
    raw[row] = 0
    for (let x = 0; x < width; x++) {
      const dx = x - width / 2
      const dy = y - height / 2
      const inDisc = dx * dx + dy * dy < r * r
      const stripe = Math.abs(dy) < height * 0.06
      const o = row + 1 + x * 4
      if (stripe) {
        raw.set([20, 20, 20, 255], o)
      } else if (inDisc) {
        raw.set([cr, cg, cb, 255], o)
      }
    }
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8
  ihdr[9] = 6
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ])
}

/** A PNG cut in the middle of its image data: the header is fine, the pixels are not. */
export function truncatedPng() {
  const png = makePng(400, 400, 1)
  return png.subarray(0, Math.floor(png.length * 0.6))
}

export async function login(email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  const res = await fetch(`${STORE_URL}/auth/user/emailpass`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  })
  if (!res.ok) {
    throw new Error(`login as ${email} failed: ${res.status} ${await res.text()}`)
  }
  return (await res.json()).token
}

/** Calls the store; returns { status, body, headers }. */
export async function call(path, { method = "GET", token, json, form, raw } = {}) {
  const headers = {}
  if (token) headers.authorization = `Bearer ${token}`
  let body
  if (json !== undefined) {
    headers["content-type"] = "application/json"
    body = JSON.stringify(json)
  } else if (form) {
    body = form
  }
  const res = await fetch(`${STORE_URL}${path}`, { method, headers, body })
  if (raw) {
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers }
  }
  const text = await res.text()
  let parsed
  try {
    parsed = text ? JSON.parse(text) : null
  } catch {
    parsed = text
  }
  return { status: res.status, body: parsed, headers: res.headers }
}

/** A multipart form with a design and fields. */
export function designForm(design, fields = {}, filename = "design.png", type = "image/png") {
  const form = new FormData()
  if (design) form.append("design", new Blob([design], { type }), filename)
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) form.append(k, v)
  }
  return form
}

export async function waitFor(what, fn, { timeoutMs = 60_000, everyMs = 100 } = {}) {
  const until = Date.now() + timeoutMs
  let last
  while (Date.now() < until) {
    last = await fn()
    if (last) return last
    await new Promise((r) => setTimeout(r, everyMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** The product's images (by rank) and thumbnail. */
export async function productMedia(token, productId) {
  const { status, body } = await call(
    `/admin/products/${productId}?fields=id,thumbnail,*images`,
    { token }
  )
  if (status !== 200) throw new Error(`GET product ${productId}: ${status} ${JSON.stringify(body)}`)
  const images = [...(body.product.images ?? [])].sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0))
  return { thumbnail: body.product.thumbnail, images }
}

export async function demoProductId(token) {
  const { body } = await call(`/admin/products?handle=demo-tee&fields=id`, { token })
  if (!body?.products?.length) throw new Error("the seeded product demo-tee is missing")
  return body.products[0].id
}
