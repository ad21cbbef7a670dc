"""Builds the classic-tee garment and its studio scene in Blender (3.4, Cycles on the CPU).

Run inside Blender; everything after `--` belongs to this script:

    blender -b --factory-startup --python-exit-code 1 \
        --python scripts/blender/build_garment.py -- \
        [--template assets/templates/classic-tee/template.json] \
        [--save garment.blend] \
        [--preview out.png --atlas atlas.png --view front --size 800 --samples 16]

The garment is made from the pack's pattern polygons (template.json), so the mesh's UV of
every vertex is its atlas position: u = x / width_in, v = 1 - y / height_in. Each panel is
triangulated with interior vertices (constrained Delaunay over a 0.4 in grid) and then
mapped into 3D analytically:

* the body is a tube: a panel's x runs around half of a boxy ellipse (front half for the
  front panel, back half for the back one), its y runs down the body; the side seams of the
  two panels meet at depth 0 and are welded;
* near the shoulder line the depth falls off with a round profile, so front and back fold
  over the shoulder and meet at the shoulder seam; the neckline is not a seam, which leaves
  the neck opening open (low at the front, high at the back);
* between the shoulder point and the underarm both panels stop at an open, elliptical
  armhole, and each sleeve is a tube lofted from that armhole to its opening;
* a few low, smooth folds (hem ripples, drag lines from the underarm) break the symmetry.

The inside of the shirt (back faces) shows the fabric, never the print: the material
sends back faces to atlas (0, 0), a point outside every panel.

With --preview the script renders one camera preset with the given atlas as the fabric
texture (a direct, live Cycles render: the reference the baked views are checked against).
bake_views.py imports this module to build the same scene.
"""
import json
import math
import os
import sys

import bpy
import bmesh
from mathutils import Vector
from mathutils.geometry import delaunay_2d_cdt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_TEMPLATE = os.path.join(ROOT, "assets", "templates", "classic-tee", "template.json")

INCH = 0.0254  # metres per inch; the scene is in metres
GRID_STEP = 0.4  # inches between interior vertices
BODY_LENGTH = 29.0  # high point shoulder to hem, inches

# Shape of the body tube (inches).
TUBE_WIDTH = 0.93  # fraction of the flat half-width that faces forward
CHEST_DEPTH = 4.4  # half depth of the body at the chest
HEM_DEPTH = 4.0  # half depth at the hem
FOLD_RADIUS = 2.6  # the round profile where front and back fold over the shoulder
ARMHOLE_OPEN = 1.9  # half depth of the armhole opening
BOX = 0.75  # exponent on cos(theta): < 1 makes the cross-section boxier

# Sleeves.
SLEEVE_DROP_DEG = 52.0  # sleeve axis below the horizontal
SLEEVE_LENGTH = 6.8  # armhole centre to opening centre, inches
SLEEVE_OPEN_R = 2.35  # opening radius, inches

# Camera and render.
CAMERA_DISTANCE = 2.35  # metres
CAMERA_LENS = 85.0
CAMERA_TARGET_Z = 0.37
BACKGROUND = (0.93, 0.93, 0.925)  # neutral light grey (linear), also the world light

# Still presets: (garment rotation about Z in degrees, camera elevation in degrees).
# Cameras and lights stay put; the garment turns, as on a photographer's turntable.
STILLS = {
    "front": (0.0, 2.0),
    "back": (180.0, 2.0),
    "three-quarter": (-35.0, 8.0),
}
TURNTABLE_ELEVATION = 2.0  # camera elevation of every turntable frame, degrees


# ---------------------------------------------------------------------------------------
# Pattern geometry (inches, atlas coordinates: x right, y down)


def load_template(path):
    with open(path) as f:
        return json.load(f)


def resample_loop(poly, step):
    """The closed polygon with extra points so no edge is longer than `step`."""
    out = []
    n = len(poly)
    for i in range(n):
        a = poly[i]
        b = poly[(i + 1) % n]
        length = math.hypot(b[0] - a[0], b[1] - a[1])
        k = max(1, int(math.ceil(length / step - 1e-9)))
        for j in range(k):
            t = j / k
            out.append((a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t))
    return out


def inside(poly, x, y):
    c = False
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xi:
                c = not c
    return c


def dist_to_loop(poly, x, y):
    best = 1e9
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        dx, dy = x2 - x1, y2 - y1
        ll = dx * dx + dy * dy
        t = 0.0 if ll == 0 else max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / ll))
        best = min(best, math.hypot(x - x1 - t * dx, y - y1 - t * dy))
    return best


def triangulate(poly, step=GRID_STEP):
    """Constrained Delaunay triangulation of the polygon with an interior grid."""
    loop = resample_loop(poly, step)
    xs = [p[0] for p in poly]
    ys = [p[1] for p in poly]
    pts = list(loop)
    y = min(ys) + step / 2
    row = 0
    while y < max(ys):
        x = min(xs) + (step / 2 if row % 2 else 0.0)
        while x < max(xs):
            if inside(poly, x, y) and dist_to_loop(poly, x, y) > step * 0.45:
                pts.append((x, y))
            x += step
        y += step * 0.866
        row += 1
    n = len(loop)
    edges = [(i, (i + 1) % n) for i in range(n)]
    faces = [list(range(n))]
    verts, _e, tris, _ov, _oe, _of = delaunay_2d_cdt(
        [Vector(p) for p in pts], edges, faces, 1, 1e-6
    )
    return [(v.x, v.y) for v in verts], [list(t) for t in tris]


def half_width_fn(panel):
    """half_width(yr): the body panel's half-width at yr inches below its top."""
    poly = panel["polygon"]
    cx = panel["center_x"]
    top = min(p[1] for p in poly)
    n = len(poly)

    def hw(yr):
        y = top + yr
        best = 0.0
        for i in range(n):
            x1, y1 = poly[i]
            x2, y2 = poly[(i + 1) % n]
            if min(y1, y2) <= y <= max(y1, y2) and y1 != y2:
                xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
                best = max(best, abs(xi - cx))
        return best

    return hw


def smoothstep(a, b, x):
    t = max(0.0, min(1.0, (x - a) / (b - a)))
    return t * t * (3 - 2 * t)


class Body:
    """The analytic body tube shared by both body panels and the sleeves' armholes."""

    def __init__(self, front_panel):
        raw_hw = half_width_fn(front_panel)
        poly = front_panel["polygon"]
        cx = front_panel["center_x"]
        top = min(p[1] for p in poly)
        # Landmarks relative to the top: neck point, shoulder point, underarm.
        right = [(p[0] - cx, p[1] - top) for p in poly if p[0] > cx]
        self.neck_x = min(abs(x) for x, y in right if abs(y) < 1e-6)
        sh = max((p for p in right if p[1] < 3.0), key=lambda p: p[0] if p[1] > 0.5 else -1)
        self.shoulder_x, self.shoulder_y = sh
        self.underarm_y = min(y for x, y in right if abs(x - max(q[0] for q in right)) < 1e-6)
        self._arc = {}
        self.table = [(i * 0.05, raw_hw(i * 0.05)) for i in range(int(BODY_LENGTH / 0.05) + 2)]

    def W(self, yr):
        if yr <= self.shoulder_y:
            return self.shoulder_x
        i = max(0, min(len(self.table) - 2, int(yr / 0.05)))
        (y0, w0), (y1, w1) = self.table[i], self.table[i + 1]
        t = (yr - y0) / (y1 - y0)
        return max(self.shoulder_x, w0 + (w1 - w0) * t)

    def top_line(self, xr):
        """The shoulder line (y of the seam) at xr; flat across the neck."""
        ax = abs(xr)
        if ax <= self.neck_x:
            return 0.0
        return self.shoulder_y * min(1.0, (ax - self.neck_x) / (self.shoulder_x - self.neck_x))

    def fold(self, xr, yr):
        d = max(0.0, yr - self.top_line(xr)) / FOLD_RADIUS
        if d >= 1.0:
            return 1.0
        return math.sqrt(max(0.0, 1.0 - (1.0 - d) ** 2))

    def a(self, yr):
        flare = 0.35 * smoothstep(20.0, BODY_LENGTH, yr)
        waist = -0.25 * math.exp(-((yr - 17.0) / 5.0) ** 2)
        return TUBE_WIDTH * self.W(yr) + flare + waist

    def b(self, yr):
        return CHEST_DEPTH + (HEM_DEPTH - CHEST_DEPTH) * smoothstep(8.0, BODY_LENGTH, yr)

    def e(self, yr):
        lo, hi = self.shoulder_y, self.underarm_y
        if yr <= lo or yr >= hi:
            return 0.0
        c = (lo + hi) / 2
        h = (hi - lo) / 2
        return ARMHOLE_OPEN * math.sqrt(max(0.0, 1.0 - ((yr - c) / h) ** 2))

    def theta(self, yr, f):
        """The angle round the body whose arc-length fraction is f in [-1, 1].

        The panel's width is laid around the cross-section by arc length, so the print
        keeps its proportions (a 12 x 12 in square stays square on the chest).
        """
        key = round(yr, 1)
        table = self._arc.get(key)
        if table is None:
            n = 96
            a, b = self.a(yr), self.b(yr)
            thetas = [-math.pi / 2 + math.pi * i / n for i in range(n + 1)]

            def xy(t):
                c = max(0.0, math.cos(t))
                return a * math.sin(t), b * c**BOX

            lengths = [0.0]
            for i in range(n):
                (x0, y0), (x1, y1) = xy(thetas[i]), xy(thetas[i + 1])
                lengths.append(lengths[-1] + math.hypot(x1 - x0, y1 - y0))
            total = lengths[-1]
            table = (thetas, [2 * v / total - 1 for v in lengths])
            self._arc[key] = table
        thetas, fr = table
        lo, hi = 0, len(fr) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fr[mid] <= f:
                lo = mid
            else:
                hi = mid
        t = (f - fr[lo]) / max(1e-12, fr[hi] - fr[lo])
        return thetas[lo] + (thetas[hi] - thetas[lo]) * max(0.0, min(1.0, t))

    def point(self, xr, yr, side):
        """3D point (inches) of a body panel point; side -1 = front, +1 = back."""
        w = self.W(yr)
        theta = self.theta(yr, max(-1.0, min(1.0, xr / w)))
        c = math.cos(theta)
        sn = math.sin(theta) ** 4
        depth = (self.b(yr) * (c**BOX if c > 0 else 0.0) + self.e(yr) * sn) * self.fold(xr, yr)
        x = self.a(yr) * math.sin(theta)
        # Soft folds: hem ripples and drag lines running from the underarms.
        ripple = 0.16 * math.sin(xr * 0.9 + (1.3 if side > 0 else 0.4)) * smoothstep(
            18.0, BODY_LENGTH, yr
        )
        drag = 0.0
        for s in (-1.0, 1.0):
            # distance from a diagonal line leaving the underarm towards the centre
            u = (s * xr - (w - 1.0)) + 0.55 * (yr - self.underarm_y)
            along = smoothstep(self.underarm_y, self.underarm_y + 3.0, yr) * (
                1 - smoothstep(self.underarm_y + 6.0, self.underarm_y + 12.0, yr)
            )
            drag += -0.22 * math.exp(-(u / 1.2) ** 2) * along
        depth = max(0.0, depth + (ripple + drag) * self.fold(xr, yr) * (c**0.3 if c > 0 else 0))
        x_world = x if side < 0 else -x
        return (x_world, side * depth, BODY_LENGTH - yr)

    def armhole_point(self, side_x, yr, fb):
        """A point of the armhole (inches): side_x +-1, fb -1 front / +1 back."""
        fold = self.fold(self.shoulder_x, yr)
        return (side_x * self.a(yr), fb * self.e(yr) * fold, BODY_LENGTH - yr)


def sleeve_mapper(body, panel, k):
    """Returns f(x, y) -> 3D point for a sleeve panel; k = +1 wearer's left (+X), -1 right."""
    poly = panel["polygon"]
    cx = panel["center_x"]
    cap_top = min(p[1] for p in poly)
    hem = panel["hem_y"]
    ends = [p for p in poly if abs(abs(p[0] - cx) - max(abs(q[0] - cx) for q in poly)) < 1e-6]
    cap_end_y = ends[0][1]
    cap_half = abs(ends[0][0] - cx)
    open_half = max(abs(p[0] - cx) for p in poly if abs(p[1] - hem) < 1e-6)
    cap_h = cap_end_y - cap_top

    lo, hi = body.shoulder_y, body.underarm_y
    mid = (lo + hi) / 2
    centre = Vector((k * body.a(mid), 0.0, BODY_LENGTH - mid))
    drop = math.radians(SLEEVE_DROP_DEG)
    axis = Vector((k * math.cos(drop), 0.0, -math.sin(drop)))
    up = Vector((k * math.sin(drop), 0.0, math.cos(drop)))
    open_c = centre + axis * SLEEVE_LENGTH + up * 1.2

    def cap_y(x):
        u = (x - cx) / cap_half
        return cap_top + cap_h * u * u

    def f(x, y):
        yc = cap_y(x)
        if y <= cap_end_y:
            hw = cap_half
        else:
            hw = cap_half + (open_half - cap_half) * (y - cap_end_y) / (hem - cap_end_y)
        u = max(-1.0, min(1.0, (x - cx) / hw))
        t = max(0.0, min(1.0, (y - yc) / max(1e-6, hem - yc)))
        phi = math.pi * u
        fb = k * (1.0 if u > 0 else -1.0)
        cap = Vector(body.armhole_point(k, lo + abs(u) * (hi - lo), fb))
        ring = open_c + SLEEVE_OPEN_R * (
            math.cos(phi) * up + Vector((0.0, k * math.sin(phi) * 0.92, 0.0))
        )
        p = cap.lerp(ring, t)
        # A little fullness in the middle of the sleeve, along the ring's radial direction.
        radial = (ring - open_c).normalized()
        p += radial * (0.35 * math.sin(math.pi * t))
        return tuple(p)

    return f


# ---------------------------------------------------------------------------------------
# Mesh, material, scene


def neckline_points(panel, n=48):
    """n + 1 points along the panel's neckline, left neck point to right, pattern-relative."""
    poly = panel["polygon"]
    cx = panel["center_x"]
    top = min(p[1] for p in poly)
    # The neckline is the polygon's run from the first point to the first point back at
    # the top (the other neck point).
    end = next(i for i in range(1, len(poly)) if abs(poly[i][1] - top) < 1e-6)
    run = poly[: end + 1]
    seg = [math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(run, run[1:])]
    total = sum(seg)
    out = []
    for k in range(n + 1):
        d = total * k / n
        i = 0
        while i < len(seg) - 1 and d > seg[i]:
            d -= seg[i]
            i += 1
        t = d / seg[i] if seg[i] else 0.0
        a, b = run[i], run[i + 1]
        out.append((a[0] + (b[0] - a[0]) * t - cx, a[1] + (b[1] - a[1]) * t - top))
    return out


def add_collar(body, panels, verts3, uvs, faces):
    """A rib band standing round the neck opening, folded back inside at its top.

    The band is not part of the print layout: its UV is atlas (0, 0), outside every panel,
    so it always shows the garment colour.
    """
    front = [body.point(x, y, -1) for x, y in neckline_points(panels["front"])]
    back = [body.point(x, y, 1) for x, y in neckline_points(panels["back"])]
    loop = [Vector(p) for p in front[:-1] + back[:-1]]
    centre = sum(loop, Vector()) / len(loop)
    up = Vector((0.0, 0.0, 1.0))
    rows = [[], [], []]
    for p in loop:
        inward = Vector((centre.x - p.x, centre.y - p.y, 0.0)).normalized()
        top = p + up * 0.62 + inward * 0.3
        rows[0].append(p)
        rows[1].append(top)
        rows[2].append(top + inward * 0.18 - up * 0.55)
    n = len(loop)
    base = len(verts3)
    for row in rows:
        for p in row:
            verts3.append((p.x * INCH, p.y * INCH, p.z * INCH))
            uvs.append((0.0, 1.0))
    for r in range(len(rows) - 1):
        for i in range(n):
            j = (i + 1) % n
            faces.append([base + r * n + i, base + r * n + j,
                          base + (r + 1) * n + j, base + (r + 1) * n + i])


def build_mesh(template):
    W_in = template["atlas"]["width_in"]
    H_in = template["atlas"]["height_in"]
    panels = {p["name"]: p for p in template["panels"]}
    body = Body(panels["front"])

    verts3, uvs, faces = [], [], []

    def add_panel(panel, mapper):
        pts, tris = triangulate(panel["polygon"])
        base = len(verts3)
        for x, y in pts:
            px, py, pz = mapper(x, y)
            verts3.append((px * INCH, py * INCH, pz * INCH))
            uvs.append((x / W_in, 1.0 - y / H_in))
        for t in tris:
            faces.append([base + i for i in t])

    for name, side in (("front", -1), ("back", 1)):
        p = panels[name]
        top = min(q[1] for q in p["polygon"])
        cx = p["center_x"]
        add_panel(p, lambda x, y, cx=cx, top=top, side=side: body.point(x - cx, y - top, side))
    add_panel(panels["left_sleeve"], sleeve_mapper(body, panels["left_sleeve"], +1))
    add_panel(panels["right_sleeve"], sleeve_mapper(body, panels["right_sleeve"], -1))

    add_collar(body, panels, verts3, uvs, faces)

    mesh = bpy.data.meshes.new("classic-tee")
    mesh.from_pydata(verts3, [], faces)
    uv_layer = mesh.uv_layers.new(name="atlas")
    for poly in mesh.polygons:
        for li in poly.loop_indices:
            uv_layer.data[li].uv = uvs[mesh.loops[li].vertex_index]

    bm = bmesh.new()
    bm.from_mesh(mesh)
    # Weld the seams (side, shoulder, sleeve underarm); UVs stay per corner.
    bmesh.ops.remove_doubles(bm, verts=bm.verts, dist=1e-5)
    bmesh.ops.recalc_face_normals(bm, faces=bm.faces)
    bm.to_mesh(mesh)
    bm.free()
    for poly in mesh.polygons:
        poly.use_smooth = True
    mesh.update()
    # Make sure normals face outwards: the front panel's middle faces -Y.
    front_faces = [p for p in mesh.polygons if p.center.y < -0.05 and abs(p.center.x) < 0.05]
    if front_faces and sum(p.normal.y for p in front_faces) > 0:
        bm = bmesh.new()
        bm.from_mesh(mesh)
        bmesh.ops.reverse_faces(bm, faces=bm.faces)
        bm.to_mesh(mesh)
        bm.free()
    obj = bpy.data.objects.new("garment", mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def build_material(atlas_path=None, garment_rgb=(1.0, 1.0, 1.0)):
    """The fabric: Principled BSDF with sheen and a fine weave bump.

    Base colour is the atlas texture (over the garment colour) when `atlas_path` is given,
    white otherwise (the bake). An AOV `atlas_uv` carries the atlas UV of the front face;
    back faces (the inside) get (0, 0), which is outside every panel.
    """
    mat = bpy.data.materials.new("fabric")
    mat.use_nodes = True
    nt = mat.node_tree
    for n in list(nt.nodes):
        nt.nodes.remove(n)
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    bsdf = nt.nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Roughness"].default_value = 0.82
    bsdf.inputs["Specular"].default_value = 0.22
    bsdf.inputs["Sheen"].default_value = 0.7
    bsdf.inputs["Sheen Tint"].default_value = 0.5
    nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])

    uv = nt.nodes.new("ShaderNodeUVMap")
    uv.uv_map = "atlas"
    geo = nt.nodes.new("ShaderNodeNewGeometry")

    # Weave: two fine wave textures at right angles plus a little noise, as a bump.
    wave_u = nt.nodes.new("ShaderNodeTexWave")
    wave_u.wave_type = "BANDS"
    wave_u.bands_direction = "X"
    wave_u.inputs["Scale"].default_value = 380.0
    wave_v = nt.nodes.new("ShaderNodeTexWave")
    wave_v.wave_type = "BANDS"
    wave_v.bands_direction = "Y"
    wave_v.inputs["Scale"].default_value = 380.0
    noise = nt.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 120.0
    for n in (wave_u, wave_v, noise):
        nt.links.new(uv.outputs["UV"], n.inputs["Vector"])
    add1 = nt.nodes.new("ShaderNodeMath")
    add1.operation = "ADD"
    nt.links.new(wave_u.outputs["Fac"], add1.inputs[0])
    nt.links.new(wave_v.outputs["Fac"], add1.inputs[1])
    add2 = nt.nodes.new("ShaderNodeMath")
    add2.operation = "ADD"
    nt.links.new(add1.outputs[0], add2.inputs[0])
    nt.links.new(noise.outputs["Fac"], add2.inputs[1])
    bump = nt.nodes.new("ShaderNodeBump")
    bump.inputs["Strength"].default_value = 0.06
    bump.inputs["Distance"].default_value = 0.0005
    nt.links.new(add2.outputs[0], bump.inputs["Height"])
    nt.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])

    garment = nt.nodes.new("ShaderNodeRGB")
    garment.outputs[0].default_value = (*garment_rgb, 1.0)
    if atlas_path:
        img = bpy.data.images.load(atlas_path)
        img.colorspace_settings.name = "sRGB"
        img.alpha_mode = "STRAIGHT"
        tex = nt.nodes.new("ShaderNodeTexImage")
        tex.image = img
        tex.interpolation = "Linear"
        tex.extension = "CLIP"
        nt.links.new(uv.outputs["UV"], tex.inputs["Vector"])
        mix = nt.nodes.new("ShaderNodeMixRGB")
        nt.links.new(tex.outputs["Alpha"], mix.inputs["Fac"])
        nt.links.new(garment.outputs[0], mix.inputs["Color1"])
        nt.links.new(tex.outputs["Color"], mix.inputs["Color2"])
        # The inside of the shirt is plain fabric.
        inside_mix = nt.nodes.new("ShaderNodeMixRGB")
        nt.links.new(geo.outputs["Backfacing"], inside_mix.inputs["Fac"])
        nt.links.new(mix.outputs[0], inside_mix.inputs["Color1"])
        nt.links.new(garment.outputs[0], inside_mix.inputs["Color2"])
        nt.links.new(inside_mix.outputs[0], bsdf.inputs["Base Color"])
    else:
        nt.links.new(garment.outputs[0], bsdf.inputs["Base Color"])

    aov_mix = nt.nodes.new("ShaderNodeMixRGB")
    nt.links.new(geo.outputs["Backfacing"], aov_mix.inputs["Fac"])
    nt.links.new(uv.outputs["UV"], aov_mix.inputs["Color1"])
    aov_mix.inputs["Color2"].default_value = (0.0, 1.0, 0.0, 1.0)  # atlas (0, 0): v up
    aov = nt.nodes.new("ShaderNodeOutputAOV")
    aov.name = "atlas_uv"  # the AOV output node writes to the AOV of its name
    nt.links.new(aov_mix.outputs[0], aov.inputs["Color"])
    return mat


def add_area_light(name, location, target, size, energy, color=(1.0, 1.0, 1.0)):
    data = bpy.data.lights.new(name, "AREA")
    data.shape = "DISK"
    data.size = size
    data.energy = energy
    data.color = color
    obj = bpy.data.objects.new(name, data)
    obj.location = location
    direction = Vector(target) - Vector(location)
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    bpy.context.scene.collection.objects.link(obj)
    return obj


def build_scene(template_path=DEFAULT_TEMPLATE, atlas_path=None, garment_rgb=(1, 1, 1)):
    """Clears the file and builds garment, material, lights, world and camera."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    template = load_template(template_path)
    garment = build_mesh(template)
    garment.data.materials.append(build_material(atlas_path, garment_rgb))

    target = (0.0, 0.0, CAMERA_TARGET_Z)
    # Soft studio: a big key from the front left, a fill from the right, a rim from behind.
    add_area_light("key", (-1.6, -2.2, 1.9), target, 2.2, 150.0)
    add_area_light("fill", (2.2, -1.4, 0.8), target, 2.5, 22.0)
    add_area_light("rim", (0.6, 2.2, 2.0), target, 1.5, 72.0)
    add_area_light("top", (0.0, -0.3, 2.6), target, 2.0, 28.0)

    world = bpy.data.worlds.new("studio")
    world.use_nodes = True
    bg = world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (*BACKGROUND, 1.0)
    bg.inputs["Strength"].default_value = 0.24
    scene.world = world

    cam_data = bpy.data.cameras.new("camera")
    cam_data.lens = CAMERA_LENS
    cam = bpy.data.objects.new("camera", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    set_view(scene, 0.0, 2.0)

    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 4
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.film_transparent = False
    scene.render.resolution_percentage = 100
    return scene


def set_view(scene, rotation_deg, elevation_deg):
    """Turns the garment and places the camera for one view."""
    garment = bpy.data.objects["garment"]
    garment.rotation_euler = (0.0, 0.0, math.radians(rotation_deg))
    cam = scene.camera
    el = math.radians(elevation_deg)
    target = Vector((0.0, 0.0, CAMERA_TARGET_Z))
    cam.location = target + Vector((0.0, -math.cos(el), math.sin(el))) * CAMERA_DISTANCE
    cam.rotation_euler = (target - cam.location).to_track_quat("-Z", "Y").to_euler()


def parse_args(argv):
    args = argv[argv.index("--") + 1 :] if "--" in argv else []
    opts = {}
    i = 0
    while i < len(args):
        key = args[i].lstrip("-")
        if i + 1 >= len(args):
            raise SystemExit(f"option --{key} needs a value")
        opts[key] = args[i + 1]
        i += 2
    return opts


def hex_to_linear(text):
    text = text.lstrip("#")
    out = []
    for i in (0, 2, 4):
        c = int(text[i : i + 2], 16) / 255.0
        out.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    return tuple(out)


def main():
    opts = parse_args(sys.argv)
    known = {"template", "save", "preview", "atlas", "view", "size", "samples", "color"}
    unknown = set(opts) - known
    if unknown:
        raise SystemExit(f"unknown options: {sorted(unknown)}; known: {sorted(known)}")
    scene = build_scene(
        opts.get("template", DEFAULT_TEMPLATE),
        opts.get("atlas"),
        hex_to_linear(opts.get("color", "#ffffff")),
    )
    if "preview" in opts:
        view = opts.get("view", "front")
        if view not in STILLS:
            raise SystemExit(f"unknown view {view!r}; use one of {sorted(STILLS)}")
        set_view(scene, *STILLS[view])
        size = int(opts.get("size", "800"))
        scene.render.resolution_x = size
        scene.render.resolution_y = size
        scene.cycles.samples = int(opts.get("samples", "16"))
        scene.render.image_settings.file_format = "PNG"
        scene.render.filepath = os.path.abspath(opts["preview"])
        bpy.ops.render.render(write_still=True)
    if "save" in opts:
        bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(opts["save"]))


if __name__ == "__main__":
    main()
