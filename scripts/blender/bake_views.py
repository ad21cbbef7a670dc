"""Bakes a template pack's views: per pixel atlas UV, coverage, diffuse light and specular.

Run inside Blender (see bake.sh); everything after `--` belongs to this script:

    blender -b --factory-startup --python-exit-code 1 \
        --python scripts/blender/bake_views.py -- \
        [--out assets/templates/classic-tee/baked] [--still-size 1024] [--frame-size 512] \
        [--frames 24] [--still-samples 64] [--frame-samples 32] [--only front]

Needs numpy in Blender's Python (Debian: `apt-get install python3-numpy`).

The scene is the one build_garment.py builds, with a white fabric (albedo 1) and a
transparent film. For each view one Cycles render yields:

* `atlas_uv`: an AOV with the atlas UV of the surface seen by the camera ray (back faces,
  the shirt's inside, report atlas (0, 0), outside every panel),
* alpha: the coverage (anti-aliased edge),
* (Diffuse Direct + Indirect) x Diffuse Color: the light a white fabric reflects diffusely
  (its sheen included), the factor the albedo multiplies, and which share of it is
  indirect (light the garment bounced onto itself: inside the neck and the hood, where a
  sleeve meets the body; a dark garment bounces little of it, so the renderer scales this
  share by what a garment of the requested colour keeps of it: bounce_kept in
  src/render/baked.rs),
* Glossy Direct + Indirect: the specular highlight, added on top of the albedo,
* the backdrop's shadow: the factor the flat background is multiplied by, from the
  garment's silhouette (build_garment.SHADOW_TERMS; render_job.py composites the same).

Cycles accumulates passes over the pixel filter, background samples adding zero, so the
AOV and colour passes are premultiplied by coverage (the light passes come out divided by
their colour pass, so they are not); the bake divides by coverage so each pixel carries
the values of the surface it covers. The UV comes from a second, point-sampled render (one
sample through each pixel centre), so no pixel mixes two distant atlas positions.

Each still is written as two PNGs (lossless, 16 bits per channel); the turntable frames
are stacked top to bottom into one pair (`turntable.uv.png`, `turntable.shade.png`):

* `<name>.uv.png`: grey+alpha 16-bit: grey = u * 65535, alpha = v * 65535 (Blender's v,
  upwards: atlas y = (1 - v) * atlas height); both 0 where coverage is 0;
* `<name>.shade.png`: RGBA 16-bit: R = coverage, G = diffuse / DIFFUSE_SCALE,
  B = specular / SPECULAR_SCALE, A = the backdrop's light under the garment's shadow
  (1 = no shadow), each times 65535;
* `<name>.indirect.png`: grey 8-bit: the indirect share of the diffuse light, times 255
  (0 where coverage is 0); the turntable's is stacked like the others.

`views.json` lists the views with their sizes, files, scales and the turntable order.
"""
import glob
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import zlib

import bpy
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build_garment as bg  # noqa: E402

DIFFUSE_SCALE = 3.0
SPECULAR_SCALE = 1.0
TURNTABLE_ELEVATION = bg.TURNTABLE_ELEVATION
FORMAT_VERSION = 1


def write_png16(path, array):
    """Writes a uint16 array (h, w) or (h, w, c), c in 2, 3 or 4, as a 16-bit PNG."""
    if array.ndim == 2:
        array = array[:, :, None]
    h, w, c = array.shape
    raw = array.astype(">u2").reshape(h, w * c).view(np.uint8).reshape(h, w * c * 2)
    return write_png(path, raw, w, h, c, 16)


def write_png8(path, array):
    """Writes a uint8 array (h, w) as an 8-bit grey PNG."""
    h, w = array.shape
    return write_png(path, array.astype(np.uint8), w, h, 1, 8)


def write_png(path, raw, w, h, c, depth):
    """Writes rows of bytes `raw` (h, w * c * depth / 8) as a PNG of c channels."""
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    # Filter "Up" on every row: the difference to the row above, modulo 256.
    up = np.zeros_like(raw)
    up[1:] = raw[:-1]
    filtered = (raw.astype(np.int16) - up.astype(np.int16)) & 0xFF
    rows = np.concatenate([np.full((h, 1), 2, np.uint8), filtered.astype(np.uint8)], axis=1)
    data = zlib.compress(rows.tobytes(), 9)

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
    png += chunk(b"IDAT", data)
    png += chunk(b"IEND", b"")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)
    return len(png)


def setup_bake(scene, tmpdir):
    scene.render.film_transparent = True
    scene.cycles.filter_width = 0.75
    scene.cycles.use_denoising = False
    scene.cycles.use_adaptive_sampling = False
    scene.render.dither_intensity = 0.0
    # Few samples: clamp fireflies (a single bright indirect sample would spot the fabric).
    scene.cycles.sample_clamp_direct = 4.0
    scene.cycles.sample_clamp_indirect = 1.0
    vl = scene.view_layers[0]
    vl.use_pass_diffuse_direct = True
    vl.use_pass_diffuse_indirect = True
    vl.use_pass_diffuse_color = True
    vl.use_pass_glossy_direct = True
    vl.use_pass_glossy_indirect = True
    vl.use_pass_glossy_color = True
    aov = vl.aovs.add()
    aov.name = "atlas_uv"
    aov.type = "COLOR"

    scene.use_nodes = True
    nt = scene.node_tree
    for n in list(nt.nodes):
        nt.nodes.remove(n)
    rl = nt.nodes.new("CompositorNodeRLayers")
    out = nt.nodes.new("CompositorNodeOutputFile")
    out.base_path = tmpdir
    out.format.file_format = "OPEN_EXR"
    out.format.color_depth = "32"
    out.format.exr_codec = "ZIP"
    out.file_slots.clear()
    for socket in (
        "Image", "DiffDir", "DiffInd", "DiffCol", "GlossDir", "GlossInd", "GlossCol", "atlas_uv"
    ):
        out.file_slots.new(socket)
        nt.links.new(rl.outputs[socket], out.inputs[socket])
    # The compositor also needs a Composite node to run.
    comp = nt.nodes.new("CompositorNodeComposite")
    nt.links.new(rl.outputs["Image"], comp.inputs["Image"])


def read_exr(path, w, h):
    img = bpy.data.images.load(path)
    img.colorspace_settings.name = "Non-Color"
    buf = np.empty(w * h * 4, dtype=np.float32)
    img.pixels.foreach_get(buf)
    bpy.data.images.remove(img)
    return buf.reshape(h, w, 4)[::-1]  # Blender's rows run bottom-up


def soft_blur(values, weight):
    """Normalised 5x5 binomial blur of `values`, weighted by `weight` (coverage)."""
    k = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0

    def sep(a):
        p = np.pad(a, 2, mode="edge")
        a = sum(k[i] * p[i : i + a.shape[0], 2:-2] for i in range(5))
        p = np.pad(a, 2, mode="edge")
        return sum(k[i] * p[2:-2, i : i + a.shape[1]] for i in range(5))

    num = sep(values * weight)
    den = sep(weight)
    return np.where(weight > 1e-3, num / np.maximum(den, 1e-6), 0.0)


def gaussian_blur(values, radius):
    """Separable Gaussian blur, sigma = radius / 3, cut off at `radius` pixels, zero
    outside the image: the compositor's Gaussian blur of that size (render_job.py)."""
    x = np.arange(-radius, radius + 1) / radius
    k = np.exp(-((3.0 * x) ** 2) / 2.0)
    k /= k.sum()
    h, w = values.shape
    p = np.pad(values, ((radius, radius), (0, 0)))
    values = sum(k[i] * p[i : i + h] for i in range(2 * radius + 1))
    p = np.pad(values, ((0, 0), (radius, radius)))
    return sum(k[i] * p[:, i : i + w] for i in range(2 * radius + 1))


def shifted(values, dx, dy):
    """`values` moved dx pixels right and dy down, zero where nothing moved in."""
    out = np.zeros_like(values)
    h, w = values.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = values[
        max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def backdrop_shadow(alpha):
    """The backdrop's light factor (1 = unshadowed) under the garment's soft shadow, from
    its coverage `alpha` (rows top-down), as build_garment.SHADOW_TERMS describe it."""
    light = np.ones_like(alpha)
    for term in bg.SHADOW_TERMS:
        dx, dy, radius = bg.shadow_pixels(term, alpha.shape[1])
        light -= term[3] * gaussian_blur(shifted(alpha, dx, dy), radius)
    return np.clip(light, 0.0, 1.0)


def point_sampled_uv(scene, tmpdir, size, covered):
    """The atlas UV at each pixel's centre, from one more render with a point filter.

    A filtered UV pass averages the UVs of everything in the pixel; where two panels meet
    (a seam, a sleeve over the body) the average lands somewhere else in the atlas, maybe
    in the print. One sample through the pixel centre gives the UV of a single surface
    point; covered edge pixels whose centre misses the garment take a neighbour's UV.
    """
    width, samples = scene.cycles.filter_width, scene.cycles.samples
    scene.cycles.filter_width = 0.01
    scene.cycles.samples = 1
    try:
        for f in glob.glob(os.path.join(tmpdir, "*")):
            os.remove(f)
        bpy.ops.render.render(write_still=False)
        hit = read_exr(one_file(tmpdir, "Image"), size, size)[:, :, 3] > 0.5
        uv = read_exr(one_file(tmpdir, "atlas_uv"), size, size)[:, :, :2].copy()
    finally:
        scene.cycles.filter_width, scene.cycles.samples = width, samples
    uv[~hit] = 0.0
    valid = hit.copy()
    for _ in range(4):
        missing = covered & ~valid
        if not missing.any():
            break
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, -1), (1, -1), (-1, 1)):
            src_valid = np.roll(valid, (dy, dx), axis=(0, 1))
            take = missing & src_valid
            uv[take] = np.roll(uv, (dy, dx), axis=(0, 1))[take]
            valid = valid | take
            missing = missing & ~take
    return uv


def one_file(tmpdir, name):
    files = glob.glob(os.path.join(tmpdir, name + "*.exr"))
    if len(files) != 1:
        raise RuntimeError(f"expected one {name} EXR in {tmpdir}, found {files}")
    return files[0]


def render_view(scene, tmpdir, size, samples):
    for f in glob.glob(os.path.join(tmpdir, "*")):
        os.remove(f)
    scene.render.resolution_x = size
    scene.render.resolution_y = size
    scene.cycles.samples = samples
    scene.render.filepath = os.path.join(tmpdir, "composite.png")
    bpy.ops.render.render(write_still=False)

    def load(name):
        return read_exr(one_file(tmpdir, name), size, size)

    image = load("Image")
    alpha = np.clip(image[:, :, 3], 0.0, 1.0)
    # Cycles writes light passes already divided by their colour pass (both accumulated
    # the same way), so they are not premultiplied; the colour and AOV passes are.
    # Light times colour is the pass's contribution to the image. The diffuse colour pass
    # of the white fabric is not 1: it also holds the sheen's weight (1 + Sheen = 1.7),
    # so the light pass alone is the diffuse light divided by 1.7. The contribution is
    # what a white fabric reflects (diffuse + its small sheen), the factor the albedo
    # scales.
    direct_light = load("DiffDir")[:, :, :3]
    indirect_light = load("DiffInd")[:, :, :3]
    diffuse_color = load("DiffCol")[:, :, :3]
    gloss_light = (load("GlossDir") + load("GlossInd"))[:, :, :3]
    gloss_color = load("GlossCol")[:, :, :3]
    covered = alpha > 1e-3
    inv = np.where(covered, 1.0 / np.maximum(alpha, 1e-3), 0.0)
    diffuse = ((direct_light + indirect_light) * diffuse_color).mean(axis=2) * inv
    indirect = (indirect_light * diffuse_color).mean(axis=2) * inv
    specular = (gloss_light * gloss_color).mean(axis=2) * inv
    uv = point_sampled_uv(scene, tmpdir, size, covered)
    # A light, coverage-weighted blur takes the sampling grain out of the light passes
    # (the weave is finer than a pixel at these sizes, so nothing real is lost).
    # The indirect light is smoother still (it comes from the whole garment round the
    # pixel); its share is taken after the blur.
    diffuse = soft_blur(diffuse, alpha)
    indirect = np.clip(soft_blur(indirect, alpha) / np.maximum(diffuse, 1e-6), 0.0, 1.0)
    specular = soft_blur(specular, alpha)
    shadow = backdrop_shadow(alpha)
    return alpha, diffuse, specular, uv, covered, shadow, indirect


def encode(out_dir, name, alpha, diffuse, specular, uv, covered, shadow, indirect):
    """Writes one view's three PNGs; returns their file names."""
    uv16, shade, share = quantise(alpha, diffuse, specular, uv, covered, shadow, indirect)
    report(name, diffuse, specular, covered, shadow, indirect)
    write_png16(os.path.join(out_dir, name + ".uv.png"), uv16)
    write_png16(os.path.join(out_dir, name + ".shade.png"), shade)
    write_png8(os.path.join(out_dir, name + ".indirect.png"), share)
    return {"uv": name + ".uv.png", "shade": name + ".shade.png",
            "indirect": name + ".indirect.png"}


def report(name, diffuse, specular, covered, shadow, indirect):
    d = diffuse[covered]
    s = specular[covered]
    i = indirect[covered]
    print(
        f"baked {name}: diffuse max {d.max():.3f} mean {d.mean():.3f} "
        f"p99.9 {np.percentile(d, 99.9):.3f}; indirect share median {np.median(i):.3f} "
        f"p99 {np.percentile(i, 99):.3f}; specular max {s.max():.3f} "
        f"p99.9 {np.percentile(s, 99.9):.3f}; coverage {covered.mean():.3f}; "
        f"backdrop shadow down to {shadow[~covered].min():.3f}",
        flush=True,
    )
    if np.percentile(d, 99.9) > DIFFUSE_SCALE or np.percentile(s, 99.9) > SPECULAR_SCALE:
        print(f"warning: {name} clipped (raise DIFFUSE_SCALE/SPECULAR_SCALE)", flush=True)


def quantise(alpha, diffuse, specular, uv, covered, shadow, indirect):
    def q(x):
        return np.clip(np.rint(x * 65535.0), 0, 65535).astype(np.uint16)

    def q12(x):
        # Light needs no more than 12 bits; dropping the noise bits keeps the pack small.
        return (np.clip(np.rint(x * 4095.0), 0, 4095) * 16).astype(np.uint16)

    uv16 = np.where(covered[:, :, None], q(np.clip(uv, 0.0, 1.0)), 0)
    shade = np.stack(
        [
            q(np.where(covered, alpha, 0.0)),
            np.where(covered, q12(diffuse / DIFFUSE_SCALE), 0),
            np.where(covered, q12(specular / SPECULAR_SCALE), 0),
            q(shadow),
        ],
        axis=2,
    )
    share = np.where(covered, np.clip(np.rint(indirect * 255.0), 0, 255), 0).astype(np.uint8)
    return uv16, shade, share


def progress(stage, done, total):
    """One machine-readable progress line (read by `render-engine template bake`)."""
    event = {"event": "progress", "stage": stage, "done": done, "total": total}
    print("RENDER_ENGINE " + json.dumps(event), flush=True)


def main():
    opts = bg.parse_args(sys.argv)
    known = {
        "out", "template", "still-size", "frame-size", "frames",
        "still-samples", "frame-samples", "only",
    }
    unknown = set(opts) - known
    if unknown:
        raise SystemExit(f"unknown options: {sorted(unknown)}; known: {sorted(known)}")
    out_dir = os.path.abspath(
        opts.get("out", os.path.join(bg.ROOT, "assets", "templates", "classic-tee", "baked"))
    )
    still_size = int(opts.get("still-size", "1024"))
    frame_size = int(opts.get("frame-size", "512"))
    frames = int(opts.get("frames", "24"))
    still_samples = int(opts.get("still-samples", "64"))
    frame_samples = int(opts.get("frame-samples", "32"))
    only = opts.get("only")
    if frames < 24:
        raise SystemExit("--frames must be at least 24")

    template_path = opts.get("template", bg.DEFAULT_TEMPLATE)
    os.makedirs(out_dir, exist_ok=True)
    # The drape the views are drawn with is stored beside them: live renders of the pack
    # take this very shape instead of simulating it again.
    drape_path = os.path.join(out_dir, bg.STORED_DRAPE_FILE)
    scene = bg.build_scene(template_path, store_drape_to=drape_path)
    tmpdir = tempfile.mkdtemp(prefix="bake-views-")
    setup_bake(scene, tmpdir)

    stills = []
    still_names = [n for n in bg.STILLS if not only or only == n]
    total = len(still_names) + (frames if not only or only == "turntable" else 0)
    progress("bake", 0, total)
    for name, (rotation, elevation) in bg.STILLS.items():
        if only and only != name:
            continue
        bg.set_view(scene, rotation, elevation)
        files = encode(out_dir, name, *render_view(scene, tmpdir, still_size, still_samples))
        progress("bake", len(stills) + 1, total)
        stills.append(
            {"name": name, "width": still_size, "height": still_size,
             "rotation_deg": rotation, "elevation_deg": elevation, **files}
        )
    turntable = None
    if not only or only == "turntable":
        # All frames stacked top to bottom in one pair of PNGs: frame i is rows
        # [i * size, (i + 1) * size).
        uvs, shades, shares = [], [], []
        for i in range(frames):
            angle = 360.0 * i / frames
            bg.set_view(scene, angle, TURNTABLE_ELEVATION)
            views = render_view(scene, tmpdir, frame_size, frame_samples)
            report(f"turntable frame {i}", views[1], views[2], views[4], views[5], views[6])
            uv16, shade, share = quantise(*views)
            uvs.append(uv16)
            shades.append(shade)
            shares.append(share)
            progress("bake", len(stills) + i + 1, total)
        write_png16(os.path.join(out_dir, "turntable.uv.png"), np.concatenate(uvs, axis=0))
        write_png16(os.path.join(out_dir, "turntable.shade.png"), np.concatenate(shades, axis=0))
        write_png8(os.path.join(out_dir, "turntable.indirect.png"), np.concatenate(shares, axis=0))
        turntable = {"uv": "turntable.uv.png", "shade": "turntable.shade.png",
                     "indirect": "turntable.indirect.png"}
    shutil.rmtree(tmpdir, ignore_errors=True)
    if only:
        return

    with open(bg.DEFAULT_TEMPLATE if template_path is None else template_path) as f:
        template = json.load(f)
    index = {
        "format_version": FORMAT_VERSION,
        "template": template["id"],
        "atlas": {
            "width_px": round(template["atlas"]["width_in"] * template["atlas"]["pixels_per_inch"]),
            "height_px": round(template["atlas"]["height_in"] * template["atlas"]["pixels_per_inch"]),
        },
        "encoding": {
            "uv": "16-bit grey+alpha PNG: u = grey / 65535, v = alpha / 65535 (v up; atlas y = (1 - v) * height)",
            "shade": "16-bit RGBA PNG: coverage = R / 65535, diffuse = G / 65535 * diffuse_scale, specular = B / 65535 * specular_scale, shadow = A / 65535 (the background's light factor under the garment's soft shadow; 1 = none)",
            "indirect": "8-bit grey PNG: the indirect share of the diffuse light = grey / 255 (the light the garment bounces onto itself, which the renderer scales by what a garment of the requested colour keeps of it)",
            "diffuse_scale": DIFFUSE_SCALE,
            "specular_scale": SPECULAR_SCALE,
        },
        "background": "#f6f6f6",
        "stills": stills,
        "turntable": {
            "width": frame_size,
            "height": frame_size,
            "frames": frames,
            "fps": 12,
            "elevation_deg": TURNTABLE_ELEVATION,
            "rotation_deg_per_frame": 360.0 / frames,
            "layout": "frames stacked top to bottom, frame i at rows [i * height, (i + 1) * height)",
            **turntable,
        },
        "bake": {
            "blender": bpy.app.version_string,
            "engine": "CYCLES",
            "still_samples": still_samples,
            "frame_samples": frame_samples,
            "filter_width_px": 0.75,
        },
    }
    if os.path.exists(drape_path):  # not with RENDER_ENGINE_NO_DRAPE=1 (development)
        index["drape"] = bg.STORED_DRAPE_FILE
    tmp = os.path.join(out_dir, "views.json.tmp")
    with open(tmp, "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(out_dir, "views.json"))
    print(f"wrote {out_dir}/views.json", flush=True)
    result = {"event": "result", "views": len(stills), "frames": frames}
    print("RENDER_ENGINE " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
