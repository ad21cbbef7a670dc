"""Measures how large a print comes out on a pack's 3D garment: the surface length of a
12 in horizontal and a 12 in vertical span of pattern across the front chest.

    blender -b --factory-startup --python-exit-code 1 \
        --python scripts/blender/measure_print_size.py -- \
        [--template assets/templates/classic-tee/template.json]

The spans are the middle lines of a 12 x 12 in area whose top edge is 3 in below the
front panel's collar point (the standard `chest-large` area): horizontally across its
middle, vertically down the centre line. Each is sampled every 0.02 in in atlas inches,
every sample is carried onto the garment through the triangle of the garment mesh whose
UV (atlas position) holds it, and the 3D distances are summed. A garment that keeps a
print's physical size measures 12 in both ways. It prints `SPAN <id>: ...` lines.
"""
import json
import os
import sys

import bpy  # noqa: F401  (Blender's module; build_garment needs it)
from mathutils import Vector
from mathutils.bvhtree import BVHTree
from mathutils.geometry import barycentric_transform

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build_garment as bg  # noqa: E402

SPAN_IN = 12.0
TOP_BELOW_COLLAR_IN = 3.0
SAMPLES = 600


def main():
    opts = bg.parse_args(sys.argv)
    unknown = set(opts) - {"template"}
    if unknown:
        raise SystemExit(f"unknown options: {sorted(unknown)}; known: ['template']")
    path = opts.get("template", bg.DEFAULT_TEMPLATE)
    bg.build_scene(path)
    with open(path) as f:
        template = json.load(f)
    width_in, height_in = template["atlas"]["width_in"], template["atlas"]["height_in"]
    front = next(p for p in template["panels"] if p["name"] == "front")
    cx, cy = front["collar_point"]

    # Every triangle twice: in atlas inches (flat, z = 0) and on the garment.
    mesh = bpy.data.objects["garment"].data
    uv = mesh.uv_layers["atlas"].data
    flat, solid, tris = [], [], []
    for poly in mesh.polygons:
        if len(poly.loop_indices) != 3:
            continue
        first = len(flat)
        for li in poly.loop_indices:
            u, v = uv[li].uv
            flat.append(Vector((u * width_in, (1.0 - v) * height_in, 0.0)))
            solid.append(mesh.vertices[mesh.loops[li].vertex_index].co.copy())
        tris.append((first, first + 1, first + 2))
    tree = BVHTree.FromPolygons(flat, tris)

    def on_garment(x, y):
        p = Vector((x, y, 0.0))
        _, _, face, distance = tree.find_nearest(p)
        if face is None or distance > 1e-3:
            raise SystemExit(f"atlas point ({x:.2f}, {y:.2f}) in is on no panel")
        a, b, c = tris[face]
        return barycentric_transform(p, flat[a], flat[b], flat[c], solid[a], solid[b], solid[c])

    def surface_in(points):
        pts = [on_garment(x, y) for x, y in points]
        return sum((pts[i + 1] - pts[i]).length for i in range(len(pts) - 1)) / bg.INCH

    top = cy + TOP_BELOW_COLLAR_IN
    steps = [SPAN_IN * i / SAMPLES for i in range(SAMPLES + 1)]
    across = surface_in([(cx - SPAN_IN / 2 + s, top + SPAN_IN / 2) for s in steps])
    down = surface_in([(cx, top + s) for s in steps])
    for name, length in (("horizontal", across), ("vertical", down)):
        print(
            f"SPAN {template['id']}: {name} {SPAN_IN:g} in of pattern measure "
            f"{length:.3f} in on the garment ({100.0 * (length / SPAN_IN - 1.0):+.2f}%)",
            flush=True,
        )


if __name__ == "__main__":
    main()
