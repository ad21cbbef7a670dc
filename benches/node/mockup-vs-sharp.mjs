// Flat mockups with render-engine against sharp, side by side in one process.
//
// The same inputs both ways: a 4500 x 5400 PNG design fitted (contain, top) into the
// chest-large print area (12 x 12 in, an 800 x 800 px square on the photo) of a
// 2000 x 2000 garment photo, multiplied onto it, encoded as JPEG quality 90. Both place
// the whole design (render-engine's trimming of transparent margins is off, as sharp
// has none); render-engine also bends the print along the photo's folds and lights it.
//
// - single: one mockup in the photo's own colour;
// - 8 colours: the garment re-tinted in 8 colours (a mask says where the garment is).
//   sharp gets its best shot: the design is decoded and resized once, the photo and
//   mask decoded once, intermediates stay raw pixels, and the 8 composites run
//   concurrently on libvips' threads.
//
// Rounds alternate between the two after a warm-up; medians and ratios are printed.
// With `--rust`, the same inputs are timed through the Rust call the binding makes
// (the `mockup_timing` example, release build) to report the binding's overhead.
//
// Usage: npm run build:release && node benches/node/mockup-vs-sharp.mjs [--rounds N] [--rust] [--save DIR]
// (`npm run bench -- --rust` is the same from the repository root). It lives beside the
// criterion benches in `benches/`; `node/` holds the runs that need the npm package.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'

const require = createRequire(import.meta.url)
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const engine = require(join(root, 'index.js'))

const args = process.argv.slice(2)
const rounds = Number(args[args.indexOf('--rounds') + 1]) || 7
const withRust = args.includes('--rust')
const saveDir = args.includes('--save') ? args[args.indexOf('--save') + 1] : null

const PHOTO = 2000
const AREA = { left: 600, top: 450, size: 800 } // the chest-large square on the photo
const COLORS = ['#1f2937', '#b91c1c', '#1d4ed8', '#15803d', '#f59e0b', '#6b21a8', '#0f766e', '#f3f4f6']

async function makeInputs() {
  // An artwork-like design: soft shapes on transparency (compresses like real artwork).
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="4500" height="5400">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#e11d48"/><stop offset="1" stop-color="#2563eb"/></linearGradient></defs>
    <circle cx="2250" cy="2000" r="1700" fill="url(#g)"/>
    <rect x="600" y="3500" width="3300" height="1400" rx="200" fill="#111827" fill-opacity="0.85"/>
    <text x="2250" y="4450" font-size="700" text-anchor="middle" fill="#fde68a" font-family="sans-serif">RENDER</text>
  </svg>`
  const design = await sharp(Buffer.from(svg)).png().toBuffer()
  // A garment photo: a light shirt with soft folds (shading) on a studio background.
  const raw = Buffer.alloc(PHOTO * PHOTO * 3)
  const mask = Buffer.alloc(PHOTO * PHOTO)
  for (let y = 0; y < PHOTO; y++) {
    for (let x = 0; x < PHOTO; x++) {
      const inside = x > 250 && x < 1750 && y > 150 && y < 1950
      const fold = 0.85 + 0.15 * Math.sin(x / 90 + Math.sin(y / 160) * 2)
      const v = inside ? Math.round(228 * fold) : 242
      const i = (y * PHOTO + x) * 3
      raw[i] = v
      raw[i + 1] = v
      raw[i + 2] = inside ? v : 246
      mask[y * PHOTO + x] = inside ? 255 : 0
    }
  }
  const photo = await sharp(raw, { raw: { width: PHOTO, height: PHOTO, channels: 3 } }).jpeg({ quality: 92 }).toBuffer()
  const maskPng = await sharp(mask, { raw: { width: PHOTO, height: PHOTO, channels: 1 } }).png().toBuffer()
  return { design, photo, mask: maskPng }
}

const quad = [
  [AREA.left, AREA.top],
  [AREA.left + AREA.size, AREA.top],
  [AREA.left + AREA.size, AREA.top + AREA.size],
  [AREA.left, AREA.top + AREA.size],
]

// ---- this package
async function oursSingle(inputs) {
  const [jpeg] = await engine.mockup(
    inputs.design,
    { image: inputs.photo, printArea: { quad, widthIn: 12, heightIn: 12 } },
    { format: 'jpeg', quality: 90, trim: false },
  )
  return [jpeg]
}

async function oursColors(inputs) {
  return engine.mockup(
    inputs.design,
    { image: inputs.photo, mask: inputs.mask, printArea: { quad, widthIn: 12, heightIn: 12 } },
    { colors: COLORS, format: 'jpeg', quality: 90, trim: false },
  )
}

// ---- sharp's own primitives
// Intermediate images stay raw pixels (no PNG encode and decode between steps).
async function fittedDesign(design) {
  // contain into the square, top-aligned: 4500 x 5400 -> 667 x 800
  const { data, info } = await sharp(design)
    .resize(AREA.size, AREA.size, { fit: 'inside', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true })
  return {
    input: data,
    raw: { width: info.width, height: info.height, channels: info.channels },
    left: AREA.left + Math.round((AREA.size - info.width) / 2),
    top: AREA.top,
  }
}

async function sharpSingle(inputs) {
  const fitted = await fittedDesign(inputs.design)
  const jpeg = await sharp(inputs.photo)
    .composite([{ ...fitted, blend: 'multiply' }])
    .jpeg({ quality: 90 })
    .toBuffer()
  return [jpeg]
}

async function sharpColors(inputs) {
  // Everything shared by the 8 images is decoded (and the design resized) once.
  const [fitted, photo, mask] = await Promise.all([
    fittedDesign(inputs.design),
    sharp(inputs.photo).raw().toBuffer({ resolveWithObject: true }),
    sharp(inputs.mask).extractChannel(0).raw().toBuffer(),
  ])
  const size = { width: PHOTO, height: PHOTO }
  return Promise.all(
    COLORS.map(async (hex) => {
      // The colour where the mask says garment, multiplied onto the photo's shading.
      const tint = await sharp({ create: { ...size, channels: 3, background: hex } })
        .joinChannel(mask, { raw: { ...size, channels: 1 } })
        .raw()
        .toBuffer()
      return sharp(photo.data, { raw: photo.info })
        .composite([
          { input: tint, raw: { ...size, channels: 4 }, blend: 'multiply' },
          { ...fitted, blend: 'multiply' },
        ])
        .jpeg({ quality: 90 })
        .toBuffer()
    }),
  )
}

async function timed(fn, inputs, expected) {
  const start = performance.now()
  const out = await fn(inputs)
  const ms = performance.now() - start
  if (out.length !== expected) throw new Error(`expected ${expected} images, got ${out.length}`)
  return ms
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function compare(name, ours, theirs, inputs, expected) {
  // warm-up (its images saved with --save DIR, to look at both side by side)
  for (const [who, fn] of [['render-engine', ours], ['sharp', theirs]]) {
    const images = await fn(inputs)
    if (saveDir) {
      mkdirSync(saveDir, { recursive: true })
      images.forEach((jpeg, i) => writeFileSync(join(saveDir, `${name.replace(/ /g, '-')}-${who}-${i}.jpg`), jpeg))
    }
  }
  const a = []
  const b = []
  for (let i = 0; i < rounds; i++) {
    a.push(await timed(ours, inputs, expected))
    b.push(await timed(theirs, inputs, expected))
  }
  const [ma, mb] = [median(a), median(b)]
  console.log(
    `${name.padEnd(12)} render-engine ${ma.toFixed(1).padStart(7)} ms   sharp ${mb.toFixed(1).padStart(7)} ms   ratio ${(ma / mb).toFixed(2)}x`,
  )
  return ma
}

const inputs = await makeInputs()
console.log(
  `flat mockup, ${PHOTO}x${PHOTO} photo, 4500x5400 PNG design (${(inputs.design.length / 1e6).toFixed(1)} MB) in chest-large, JPEG q90; median of ${rounds} rounds, sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}`,
)
await compare('single', oursSingle, sharpSingle, inputs, 1)
await compare('8 colours', oursColors, sharpColors, inputs, COLORS.length)

if (withRust) {
  // The binding's overhead: the same call from Rust (the `mockup_timing` example, release
  // build, its own warm-up each run), interleaved round by round with this process's
  // calls so both see the same machine (timings here drift by 10% between minutes).
  const dir = mkdtempSync(join(tmpdir(), 'mockup-bench-'))
  try {
    writeFileSync(join(dir, 'design.png'), inputs.design)
    writeFileSync(join(dir, 'photo.jpg'), inputs.photo)
    writeFileSync(join(dir, 'mask.png'), inputs.mask)
    const rustArgs = ['run', '--quiet', '--release', '-p', 'render-engine-node', '--example', 'mockup_timing', '--', dir, '1', quad.flat().join(','), COLORS.join(',')]
    const node = { single: [], colors: [] }
    const rust = { single: [], colors: [] }
    for (let i = 0; i < rounds; i++) {
      // The same sequence as the example: each call timed right after a warm-up call.
      await timed(oursSingle, inputs, 1)
      node.single.push(await timed(oursSingle, inputs, 1))
      await timed(oursColors, inputs, COLORS.length)
      node.colors.push(await timed(oursColors, inputs, COLORS.length))
      const out = execFileSync('cargo', rustArgs, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
      const r = JSON.parse(out.trim().split('\n').pop())
      rust.single.push(r.single_ms)
      rust.colors.push(r.colors_ms)
    }
    const pct = (n, r) => `${(((n - r) / r) * 100).toFixed(1)}%`
    const [ns, nc, rs, rc] = [node.single, node.colors, rust.single, rust.colors].map(median)
    console.log(`binding overhead (medians of ${rounds} interleaved rounds): single node ${ns.toFixed(1)} ms vs rust ${rs.toFixed(1)} ms = ${pct(ns, rs)}; 8 colours node ${nc.toFixed(1)} ms vs rust ${rc.toFixed(1)} ms = ${pct(nc, rc)}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
