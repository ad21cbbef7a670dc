"""Renders the classic-tee live in Cycles: stills and turntable frames described by a job.

The library's Blender backend runs it as

    blender -b --factory-startup -noaudio --python-exit-code 17 \
        --python render_job.py -- job.json

with build_garment.py next to it (the scene is the one the bake uses). The job is a JSON
object, contract 1:

    {
      "contract": 1,
      "template": "/abs/template.json",   pattern polygons the garment is built from
      "atlas": "/abs/atlas.png",          straight-alpha RGBA texture atlas (may be absent:
                                          plain garment)
      "drape": "/abs/drape.bin",          the drape the pack's bake stored (baked/drape.bin;
                                          may be absent): used when it is for this garment's
                                          mesh, else the garment is draped here
      "color": "#1f2937",                 fabric colour where the atlas is transparent
      "background": "#f6f6f6",            studio background behind the garment (sRGB); the
                                          garment casts a soft shadow on it, as in the bake
      "samples": 16,                      Cycles samples per pixel
      "tone": {"exposure": 1.1, "black": 0.002, "knee": 0.9, "width": 0.11},
                                          optional colour finish of the garment's film
                                          (straight alpha, linear), before compositing:
                                          e = max(0, (x * exposure - black) / (1 - black)),
                                          y = e up to knee, then
                                          knee + width * (1 - exp(-(e - knee) / width))
      "stills": {"width": 1024, "height": 1024,
                 "cameras": [{"name": "front"},
                             {"name": "side", "rotation_deg": 90, "elevation_deg": 5}]},
      "turntable": {"width": 512, "height": 512, "frames": 24, "elevation_deg": 2.0},
      "output_dir": "/abs/out"            must exist and be empty
    }

A camera named after a built-in still (front, back, three-quarter) takes that still's
angles unless it gives its own. "turntable" may be null. Outputs: `<name>.png` per still
and `turntable_0000.png` ... per frame, 8-bit RGB PNGs in sRGB (view transform Standard).

Every line meant for the caller is `RENDER_ENGINE {json}`:

    {"event": "start", "contract": 1, "blender": "3.4.1", "total": 27}
    {"event": "progress", "stage": "still" | "turntable", "name": ..., "done": k, "total": n}
    {"event": "result", "contract": 1, "stills": [{"name", "path"}], "turntable": [paths]}
    {"event": "error", "code": "E_VALIDATION" | "E_RENDER_FAILED", "message": ...}

A job the script cannot serve prints an error line and exits with status 2; an unexpected
Python exception makes Blender exit with the --python-exit-code status.
"""
import json
import math
import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build_garment as bg  # noqa: E402

CONTRACT = 1
PREFIX = "RENDER_ENGINE "
EXIT_INVALID_JOB = 2
MAX_SIZE = 8192
MAX_FRAMES = 720
MAX_SAMPLES = 4096


def emit(event, **fields):
    print(PREFIX + json.dumps({"event": event, **fields}), flush=True)


class JobError(Exception):
    """A job this script cannot serve; reported as an error line, exit status 2."""

    def __init__(self, message, code="E_VALIDATION"):
        super().__init__(message)
        self.code = code


def job_path():
    argv = sys.argv
    args = argv[argv.index("--") + 1:] if "--" in argv else []
    if len(args) != 1:
        raise JobError(f"expected one argument after `--`, the job file; got {args}")
    return args[0]


def load_job(path):
    try:
        with open(path) as f:
            job = json.load(f)
    except (OSError, ValueError) as e:
        raise JobError(f"cannot read the job file {path}: {e}")
    if not isinstance(job, dict):
        raise JobError("the job must be a JSON object")
    if job.get("contract") != CONTRACT:
        raise JobError(
            f"job contract {job.get('contract')!r} is not supported; this script reads {CONTRACT}"
        )
    return job


def positive_int(obj, key, limit, where):
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
        raise JobError(f"{where}.{key} must be an integer from 1 to {limit}; got {value!r}")
    return value


def hex_color(text, where):
    if not isinstance(text, str) or len(text.lstrip("#")) != 6:
        raise JobError(f"{where} must be a #rrggbb colour; got {text!r}")
    try:
        return bg.hex_to_linear(text)
    except ValueError:
        raise JobError(f"{where} must be a #rrggbb colour; got {text!r}")


def cameras(stills):
    out = []
    names = set()
    for i, cam in enumerate(stills.get("cameras") or []):
        where = f"stills.cameras[{i}]"
        name = cam.get("name") if isinstance(cam, dict) else None
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise JobError(f"{where}.name must be a plain file stem; got {name!r}")
        if name in names or name.startswith("turntable_"):
            raise JobError(f"{where}.name {name!r} is used twice or clashes with frames")
        names.add(name)
        rotation, elevation = bg.STILLS.get(name, (None, None))
        rotation = cam.get("rotation_deg", rotation)
        elevation = cam.get("elevation_deg", elevation)
        if not all(isinstance(v, (int, float)) for v in (rotation, elevation)):
            raise JobError(
                f"{where}: `{name}` is not a built-in still ({', '.join(bg.STILLS)}); "
                "give rotation_deg and elevation_deg"
            )
        out.append((name, float(rotation), float(elevation)))
    return out


def tone_spec(job):
    """The job's optional colour finish: (exposure, black, knee, width) or None."""
    tone = job.get("tone")
    if tone is None:
        return None
    if not isinstance(tone, dict):
        raise JobError(f"tone must be an object or null; got {tone!r}")
    values = []
    for key in ("exposure", "knee", "width"):
        v = tone.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 < v <= 10.0):
            raise JobError(f"tone.{key} must be a number in (0, 10]; got {v!r}")
        values.append(float(v))
    black = tone.get("black", 0.0)
    if isinstance(black, bool) or not isinstance(black, (int, float)) or not (0.0 <= black <= 0.5):
        raise JobError(f"tone.black must be a number in [0, 0.5]; got {black!r}")
    exposure, knee, width = values
    return (exposure, float(black), knee, width)


def add_tone(nt, image, tone):
    """Exposure and the highlight shoulder on a premultiplied film, per channel, as the
    baked renderer finishes its pixels: the colour is un-premultiplied, toned and
    premultiplied again. Returns the output socket."""
    exposure, black, knee, width = tone

    def math_node(op, a, b=None):
        node = nt.nodes.new("CompositorNodeMath")
        node.operation = op
        for i, v in enumerate((a, b)):
            if v is None:
                continue
            if isinstance(v, float):
                node.inputs[i].default_value = v
            else:
                nt.links.new(v, node.inputs[i])
        return node.outputs[0]

    straight = nt.nodes.new("CompositorNodePremulKey")
    straight.mapping = "PREMUL_TO_STRAIGHT"
    nt.links.new(image, straight.inputs[0])
    split = nt.nodes.new("CompositorNodeSepRGBA")
    nt.links.new(straight.outputs[0], split.inputs[0])
    join = nt.nodes.new("CompositorNodeCombRGBA")
    for i in range(3):
        # max(0, (c * exposure - black) / (1 - black))
        x = math_node("MULTIPLY", split.outputs[i], exposure / (1.0 - black))
        x = math_node("MAXIMUM", math_node("SUBTRACT", x, black / (1.0 - black)), 0.0)
        below = math_node("MINIMUM", x, knee)
        over = math_node("MAXIMUM", math_node("SUBTRACT", x, knee), 0.0)
        # width * (1 - exp(-over / width))
        rise = math_node(
            "MULTIPLY",
            math_node("SUBTRACT", 1.0, math_node("EXPONENT", math_node("MULTIPLY", over, -1.0 / width))),
            width,
        )
        nt.links.new(math_node("ADD", below, rise), join.inputs[i])
    nt.links.new(split.outputs[3], join.inputs[3])
    premul = nt.nodes.new("CompositorNodePremulKey")
    premul.mapping = "STRAIGHT_TO_PREMUL"
    nt.links.new(join.outputs[0], premul.inputs[0])
    return premul.outputs[0]


def setup_background(scene, background_linear, tone=None):
    """A transparent film composited over a flat background colour, in linear light (as
    the baked renderer blends coverage), before the Standard view transform; with `tone`,
    the film is finished (exposure, highlight shoulder) first.

    The background carries the garment's soft shadow, made from the film's alpha as the
    bake makes it (build_garment.SHADOW_TERMS: per term the alpha shifted, blurred with
    the compositor's Gaussian blur and weighted; the background times 1 minus their sum).
    Returns a function that sets the shadow's pixel sizes for an image width; call it
    before each render whose size changes.
    """
    scene.render.film_transparent = True
    scene.use_nodes = True
    nt = scene.node_tree
    for n in list(nt.nodes):
        nt.nodes.remove(n)
    layers = nt.nodes.new("CompositorNodeRLayers")
    terms = []
    total = None
    for term in bg.SHADOW_TERMS:
        shift = nt.nodes.new("CompositorNodeTranslate")
        nt.links.new(layers.outputs["Alpha"], shift.inputs["Image"])
        blur = nt.nodes.new("CompositorNodeBlur")
        blur.filter_type = "GAUSS"
        blur.use_relative = False
        nt.links.new(shift.outputs["Image"], blur.inputs["Image"])
        weight = nt.nodes.new("CompositorNodeMath")
        weight.operation = "MULTIPLY"
        weight.inputs[1].default_value = term[3]
        nt.links.new(blur.outputs["Image"], weight.inputs[0])
        if total is None:
            total = weight
        else:
            add = nt.nodes.new("CompositorNodeMath")
            add.operation = "ADD"
            nt.links.new(total.outputs["Value"], add.inputs[0])
            nt.links.new(weight.outputs["Value"], add.inputs[1])
            total = add
        terms.append((term, shift, blur))
    light = nt.nodes.new("CompositorNodeMath")
    light.operation = "SUBTRACT"
    light.use_clamp = True
    light.inputs[0].default_value = 1.0
    nt.links.new(total.outputs["Value"], light.inputs[1])
    backdrop = nt.nodes.new("CompositorNodeMixRGB")
    backdrop.blend_type = "MULTIPLY"
    backdrop.inputs["Fac"].default_value = 1.0
    backdrop.inputs[1].default_value = (*background_linear, 1.0)
    nt.links.new(light.outputs["Value"], backdrop.inputs[2])
    over = nt.nodes.new("CompositorNodeAlphaOver")
    nt.links.new(backdrop.outputs["Image"], over.inputs[1])
    film = layers.outputs["Image"]
    if tone is not None:
        film = add_tone(nt, film, tone)
    nt.links.new(film, over.inputs[2])
    composite = nt.nodes.new("CompositorNodeComposite")
    composite.use_alpha = False
    nt.links.new(over.outputs["Image"], composite.inputs["Image"])

    def size_shadow(width):
        for term, shift, blur in terms:
            dx, dy, radius = bg.shadow_pixels(term, width)
            shift.inputs["X"].default_value = dx
            shift.inputs["Y"].default_value = -dy  # the compositor's y runs upwards
            blur.size_x = blur.size_y = radius

    return size_shadow


def render_one(scene, path, width, height, frame):
    scene.render.resolution_x = width
    scene.render.resolution_y = height
    # Blender's own status lines (`Fra:n ... | Sample a/b`) then count images.
    scene.frame_current = frame
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)
    if not os.path.isfile(path):
        raise JobError(f"Blender did not write {path}", code="E_RENDER_FAILED")


def run(job):
    template = job.get("template")
    if not isinstance(template, str) or not os.path.isfile(template):
        raise JobError(f"template must be an existing template.json; got {template!r}")
    atlas = job.get("atlas")
    if atlas is not None and (not isinstance(atlas, str) or not os.path.isfile(atlas)):
        raise JobError(f"atlas must be an existing PNG file or null; got {atlas!r}")
    drape = job.get("drape")
    if drape is not None and (not isinstance(drape, str) or not os.path.isfile(drape)):
        raise JobError(f"drape must be an existing drape file or null; got {drape!r}")
    color = hex_color(job.get("color", "#ffffff"), "color")
    background = hex_color(job.get("background", "#f6f6f6"), "background")
    samples = positive_int(job, "samples", MAX_SAMPLES, "job")
    tone = tone_spec(job)
    out_dir = job.get("output_dir")
    if not isinstance(out_dir, str) or not os.path.isdir(out_dir):
        raise JobError(f"output_dir must be an existing directory; got {out_dir!r}")

    stills = job.get("stills") or {"cameras": []}
    cams = cameras(stills)
    if cams:
        sw = positive_int(stills, "width", MAX_SIZE, "stills")
        sh = positive_int(stills, "height", MAX_SIZE, "stills")
    turntable = job.get("turntable")
    frames = 0
    if turntable is not None:
        tw = positive_int(turntable, "width", MAX_SIZE, "turntable")
        th = positive_int(turntable, "height", MAX_SIZE, "turntable")
        frames = positive_int(turntable, "frames", MAX_FRAMES, "turntable")
        elevation = turntable.get("elevation_deg", bg.TURNTABLE_ELEVATION)
        if not isinstance(elevation, (int, float)) or math.isnan(elevation):
            raise JobError(f"turntable.elevation_deg must be a number; got {elevation!r}")
    total = len(cams) + frames
    if total == 0:
        raise JobError("the job asks for no stills and no turntable")
    emit("start", contract=CONTRACT, blender=bpy.app.version_string, total=total)

    try:
        scene = bg.build_scene(template, atlas, color, stored_drape=drape)
    except bg.GarmentError as e:  # the pack's `garment` object cannot be built
        raise JobError(f"template: {e}")
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = False
    scene.render.dither_intensity = 0.0
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.color_depth = "8"
    scene.render.image_settings.compression = 15
    size_shadow = setup_background(scene, background, tone)

    done = 0
    result_stills = []
    for name, rotation, elevation in cams:
        bg.set_view(scene, rotation, elevation)
        path = os.path.join(out_dir, name + ".png")
        size_shadow(sw)
        render_one(scene, path, sw, sh, done + 1)
        done += 1
        result_stills.append({"name": name, "path": path})
        emit("progress", stage="still", name=name, done=done, total=total)
    result_frames = []
    for i in range(frames):
        bg.set_view(scene, 360.0 * i / frames, float(elevation))
        path = os.path.join(out_dir, f"turntable_{i:04d}.png")
        size_shadow(tw)
        render_one(scene, path, tw, th, done + 1)
        done += 1
        result_frames.append(path)
        emit("progress", stage="turntable", name=f"frame {i}", done=done, total=total)
    emit("result", contract=CONTRACT, stills=result_stills, turntable=result_frames)


def main():
    try:
        run(load_job(job_path()))
    except JobError as e:
        emit("error", code=e.code, message=str(e))
        sys.stdout.flush()
        sys.exit(EXIT_INVALID_JOB)


if __name__ == "__main__":
    main()
