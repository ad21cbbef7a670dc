"""Builds a template pack's garment and its studio scene in Blender (3.4, Cycles on the CPU).

Run inside Blender; everything after `--` belongs to this script:

    blender -b --factory-startup --python-exit-code 1 \
        --python scripts/blender/build_garment.py -- \
        [--template assets/templates/classic-tee/template.json] \
        [--save garment.blend] \
        [--preview out.png --atlas atlas.png --view front --size 800 --samples 16]
        [--turn 90]  (a turntable angle instead of the view's: 90 shows the wearer's left)

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
* a few low, smooth folds (hem ripples, drag lines from the underarm) break the symmetry;
* then the shell is draped with Blender's cloth simulation (drape_positions): sewn at its
  seams, with extra fabric at the sides and the hem, it settles under gravity for 1.5 s
  on a hidden body form (a torso just inside the shell and an arm in each sleeve), which
  gives it its folds; the drape is deterministic. A bake stores it in the pack
  (baked/drape.bin), and live renders of the pack take it from there; a pack without one
  (or one for another garment: drape_key) is draped on the machine and cached
  (cached_drape). RENDER_ENGINE_NO_DRAPE=1 skips it (development: the bare shell).

The body form's measurements and the garment's parts come from the pack's optional
`garment` object (GARMENT_PARAMS below; documented in docs/template-packs.md): without it
the garment is the classic-tee's. Optional parts: a rib collar (the default), rib cuffs at
the sleeve openings, a rib hem band, a hood sewn to the neckline (its two sides are pattern
panels, so they carry atlas UVs like the body) and a kangaroo pocket sewn over the front
(also a pattern panel). Rib parts that are not pattern panels map to atlas (0, 0), so they
show the garment colour; with `rib_texture` they get a knit rib bump.

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
from mathutils import Matrix, Vector
from mathutils.geometry import delaunay_2d_cdt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_TEMPLATE = os.path.join(ROOT, "assets", "templates", "classic-tee", "template.json")

INCH = 0.0254  # metres per inch; the scene is in metres
GRID_STEP = 0.4  # inches between interior vertices

# The garment's shape parameters: the optional `garment` object of template.json. Each
# entry: key -> (default, minimum, maximum). The defaults are the classic-tee's shape, so
# a pack without a `garment` object builds exactly the classic-tee's body form. The keys,
# units and meanings are documented in docs/template-packs.md ("Garment parameters").
GARMENT_PARAMS = {
    "body_length_in": (29.0, 10.0, 50.0),  # high point shoulder to the garment's bottom edge
    "lift_in": (0.0, -10.0, 10.0),  # raises (lowers, if negative) the garment in the scene
    "tube_width": (0.93, 0.5, 1.2),  # fraction of the flat half-width that faces forward
    "chest_depth_in": (4.4, 1.0, 10.0),  # half depth of the body at the chest
    "hem_depth_in": (4.0, 1.0, 10.0),  # half depth at the hem
    "fold_radius_in": (2.6, 0.5, 6.0),  # round profile where front and back fold over the shoulder
    "armhole_open_in": (1.9, 0.5, 5.0),  # half depth of the armhole opening
    "box": (0.75, 0.3, 1.5),  # exponent on cos(theta): < 1 makes the cross-section boxier
    "hem_flare_in": (0.35, 0.0, 3.0),  # extra half-width at the hem (A-line flare)
    "waist_in": (0.25, 0.0, 2.0),  # half-width taken in at the waist
    "hem_ripple_in": (0.16, 0.0, 1.0),  # depth of the soft ripples near the hem
    "drag_fold_in": (0.22, 0.0, 1.0),  # depth of the drag folds running from the underarms
    "sleeve_drop_deg": (52.0, 0.0, 89.0),  # sleeve axis below the horizontal
    "sleeve_length_in": (6.8, 1.0, 40.0),  # armhole centre to sleeve opening centre
    "sleeve_open_r_in": (2.35, 0.5, 6.0),  # radius of the sleeve opening (hem or cuff seam)
    "sleeve_open_lift_in": (1.2, -5.0, 5.0),  # opening centre raised off the sleeve axis
    "sleeve_fullness_in": (0.35, 0.0, 2.0),  # extra radius in the middle of the sleeve
    "physical_wrap": (False, None, None),  # solve the tube's width so prints keep their width
    "collar": ("rib", None, None),  # "rib" (a rib band round the neck) or "none"
    "rib_texture": (False, None, None),  # knit rib bump on collar, cuffs and hem band
    "rib_spacing_in": (0.14, 0.04, 0.5),  # distance between two rib wales
    "cuffs": (None, None, None),  # null or an object: rib cuffs at the sleeve openings
    "hem_band": (None, None, None),  # null or an object: a rib band below the body's hem
    "hood": (None, None, None),  # null or an object: a hood sewn to the neckline
    "pocket": (None, None, None),  # null or an object: a kangaroo pocket over the front
}
CUFF_PARAMS = {
    "length_in": (2.5, 0.5, 6.0),  # cuff length along the sleeve
    "radius_in": (1.5, 0.5, 5.0),  # radius at the cuff's open end (it narrows to it)
}
HEM_BAND_PARAMS = {
    "height_in": (2.5, 0.5, 6.0),  # band height, part of body_length_in
    "taper": (0.93, 0.7, 1.0),  # band bottom size as a fraction of the body's hem
}
HOOD_PARAMS = {
    "panels": (["hood_left", "hood_right"], None, None),  # wearer's left, wearer's right
    "rise_in": (7.0, 2.0, 16.0),  # crown height above the high point shoulder
    "lean_in": (1.5, -3.0, 6.0),  # how far the hood's back stands behind the back neck
    "depth_in": (4.5, 1.0, 12.0),  # crown, back to front (the hood's top seam span)
    "opening_half_width_in": (3.0, 0.5, 6.0),  # half width of the face opening
    "bulge_in": (1.8, 0.0, 5.0),  # sideways fullness of each hood side
}
POCKET_PARAMS = {
    "panel": ("pocket", None, None),  # the pattern panel the pocket is cut from
    "top_in": (14.0, 0.0, 40.0),  # pocket top edge below the front collar point
    "standoff_in": (0.06, 0.0, 1.0),  # pocket off the front at its sewn edges
    "puff_in": (0.3, 0.0, 2.0),  # extra standoff in its middle and at its hand openings
}

# Camera and render.
CAMERA_DISTANCE = 2.35  # metres
CAMERA_LENS = 85.0
CAMERA_TARGET_Z = 0.37
BACKGROUND = (0.93, 0.93, 0.925)  # neutral light grey (linear), also the world light
LIGHT_EXPOSURE = 0.755  # every light's strength is scaled by this (see build_scene)

# Still presets: (garment rotation about Z in degrees, camera elevation in degrees).
# Cameras and lights stay put; the garment turns, as on a photographer's turntable.
STILLS = {
    "front": (0.0, 2.0),
    "back": (180.0, 2.0),
    "three-quarter": (-35.0, 8.0),
}
TURNTABLE_ELEVATION = 2.0  # camera elevation of every turntable frame, degrees

# The soft shadow the garment casts on the studio backdrop, made from its silhouette (the
# film's alpha) in image space, so the bake (bake_views.py) and a live render
# (render_job.py) draw the same one: the backdrop's light is multiplied by
# 1 - sum(strength * blur(shift(alpha))) over these terms. Each term: (shift right, shift
# down, blur radius, strength), lengths as fractions of the image width; the blur is a
# Gaussian with sigma = radius / 3 cut off at the radius (the compositor's Gaussian blur
# of that size). A wide, faint shadow falls down and to the right (the key light is above
# and left of the camera); a narrow, fainter one hugs the silhouette, as where a garment
# lies close to the backdrop. (A stronger, wider hugging term read to a blind reviewer
# as a halo round the whole garment, above the shoulders too.)
SHADOW_TERMS = (
    (0.010, 0.030, 0.070, 0.20),
    (0.000, 0.006, 0.010, 0.07),
)


def shadow_pixels(term, size):
    """A shadow term's shift (right, down) and blur radius in pixels for an image `size`
    pixels wide (the radius at least 1)."""
    dx, dy, radius, _ = term
    return round(dx * size), round(dy * size), max(1, round(radius * size))


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


def triangulate(poly, step=GRID_STEP, loop=None):
    """Constrained Delaunay triangulation of the polygon with an interior grid.

    `loop` is the outline's vertices when the caller samples it itself (a sleeve's cap,
    sampled where the body's armhole is); by default the polygon resampled every `step`."""
    if loop is None:
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


class GarmentError(SystemExit):
    """A `garment` object that cannot be built (unknown key, value out of range)."""


def _params(obj, table, where):
    """The parameters of `obj` (a dict or None) checked against `table`, defaults filled."""
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        raise GarmentError(f"{where} must be an object; got {obj!r}")
    unknown = sorted(set(obj) - set(table))
    if unknown:
        raise GarmentError(f"{where}: unknown keys {unknown}; known: {sorted(table)}")
    out = {}
    for key, (default, lo, hi) in table.items():
        value = obj.get(key, default)
        if lo is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                lo <= value <= hi
            ):
                raise GarmentError(f"{where}.{key} must be a number from {lo} to {hi}; got {value!r}")
            value = float(value)
        out[key] = value
    return out


class Garment:
    """The garment parameters of a pack (template.json's optional `garment` object)."""

    def __init__(self, template):
        g = _params(template.get("garment"), GARMENT_PARAMS, "garment")
        if g["collar"] not in ("rib", "none"):
            raise GarmentError(f"garment.collar must be \"rib\" or \"none\"; got {g['collar']!r}")
        for flag in ("rib_texture", "physical_wrap"):
            if not isinstance(g[flag], bool):
                raise GarmentError(f"garment.{flag} must be true or false; got {g[flag]!r}")
        for key, table in (("cuffs", CUFF_PARAMS), ("hem_band", HEM_BAND_PARAMS),
                           ("hood", HOOD_PARAMS), ("pocket", POCKET_PARAMS)):
            if g[key] is not None:
                g[key] = _params(g[key], table, f"garment.{key}")
        self.__dict__.update(g)
        names = {p["name"] for p in template["panels"]}
        for needed in ("front", "back", "left_sleeve", "right_sleeve"):
            if needed not in names:
                raise GarmentError(f"the pattern has no `{needed}` panel; the garment needs it")
        if self.hood is not None:
            hp = self.hood["panels"]
            if not (isinstance(hp, list) and len(hp) == 2 and all(n in names for n in hp)):
                raise GarmentError(
                    f"garment.hood.panels must name two panels of the pattern; got {hp!r}")
        if self.pocket is not None and self.pocket["panel"] not in names:
            raise GarmentError(
                f"garment.pocket.panel `{self.pocket['panel']}` is not a panel of the pattern")


class Body:
    """The analytic body tube shared by both body panels and the sleeves' armholes."""

    def __init__(self, front_panel, g):
        self.g = g
        raw_hw = half_width_fn(front_panel)
        poly = front_panel["polygon"]
        cx = front_panel["center_x"]
        top = min(p[1] for p in poly)
        self.hem = front_panel["hem_y"] - top  # the panel's hem, inches below its top
        # Landmarks relative to the top: neck point, shoulder point, underarm.
        right = [(p[0] - cx, p[1] - top) for p in poly if p[0] > cx]
        self.neck_x = min(abs(x) for x, y in right if abs(y) < 1e-6)
        sh = max((p for p in right if p[1] < 3.0), key=lambda p: p[0] if p[1] > 0.5 else -1)
        self.shoulder_x, self.shoulder_y = sh
        self.underarm_y = min(y for x, y in right if abs(x - max(q[0] for q in right)) < 1e-6)
        self._arc = {}
        self._raw_hw = raw_hw
        self.table = [
            (i * 0.05, raw_hw(i * 0.05)) for i in range(int(g.body_length_in / 0.05) + 2)
        ]
        band = g.hem_band
        # With a hem band the body gathers into it over its last 3 inches.
        self.gather = 0.0 if band is None else (1.0 - band["taper"]) * 0.5
        self.wrap = None
        if g.physical_wrap:
            # The half-width at which the half cross-section (the curve the panel's width
            # is laid along) is exactly as long as the panel is wide, on a 0.05 in grid.
            self.wrap = [self._wrap_width(y) for y, _ in self.table]

    def _half_perimeter(self, a, b):
        n = 96
        box = self.g.box
        total, prev = 0.0, None
        for i in range(n + 1):
            t = -math.pi / 2 + math.pi * i / n
            c = max(0.0, math.cos(t))
            p = (a * math.sin(t), b * c**box)
            if prev is not None:
                total += math.hypot(p[0] - prev[0], p[1] - prev[1])
            prev = p
        return total

    def _wrap_width(self, yr):
        b = self._b(yr)
        target = 2.0 * self.W(yr)
        lo, hi = 0.05, target
        for _ in range(40):
            mid = (lo + hi) / 2
            if self._half_perimeter(mid, b) < target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    def W(self, yr):
        """The panel's half-width at yr: exactly its outline's, so a point on the side
        seam or the armhole lands on the seam (f = +-1) and meets the sleeve's cap.

        (It used to be read from a 0.05 in table and kept at least the shoulder's
        half-width: along the upper armhole, whose outline swings inside the shoulder
        point, the body's edge then stopped up to 0.3 in short of the sleeve's cap, an
        open crack that showed as a light arc at the back of the armhole.)"""
        if yr <= self.shoulder_y:
            return self.shoulder_x
        if yr >= self.hem:
            return self._raw_hw(self.hem)
        return self._raw_hw(yr)

    def top_line(self, xr):
        """The shoulder line (y of the seam) at xr; flat across the neck."""
        ax = abs(xr)
        if ax <= self.neck_x:
            return 0.0
        return self.shoulder_y * min(1.0, (ax - self.neck_x) / (self.shoulder_x - self.neck_x))

    def fold(self, xr, yr):
        d = max(0.0, yr - self.top_line(xr)) / self.g.fold_radius_in
        if d >= 1.0:
            return 1.0
        return math.sqrt(max(0.0, 1.0 - (1.0 - d) ** 2))

    def a(self, yr):
        g = self.g
        if self.wrap is not None:
            i = max(0, min(len(self.wrap) - 2, int(yr / 0.05)))
            t = max(0.0, min(1.0, (yr - i * 0.05) / 0.05))
            a = self.wrap[i] + (self.wrap[i + 1] - self.wrap[i]) * t
        else:
            flare = g.hem_flare_in * smoothstep(20.0, g.body_length_in, yr)
            waist = -g.waist_in * math.exp(-((yr - 17.0) / 5.0) ** 2)
            a = g.tube_width * self.W(yr) + flare + waist
        if self.gather:
            a *= 1.0 - self.gather * smoothstep(self.hem - 3.0, self.hem, yr)
        return a

    def _b(self, yr):
        g = self.g
        return g.chest_depth_in + (g.hem_depth_in - g.chest_depth_in) * smoothstep(
            8.0, g.body_length_in, yr
        )

    def b(self, yr):
        b = self._b(yr)
        if self.gather:
            b *= 1.0 - self.gather * smoothstep(self.hem - 3.0, self.hem, yr)
        return b

    def e(self, yr):
        lo, hi = self.shoulder_y, self.underarm_y
        if yr <= lo or yr >= hi:
            return 0.0
        c = (lo + hi) / 2
        h = (hi - lo) / 2
        return self.g.armhole_open_in * math.sqrt(max(0.0, 1.0 - ((yr - c) / h) ** 2))

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
            box = self.g.box
            thetas = [-math.pi / 2 + math.pi * i / n for i in range(n + 1)]

            def xy(t):
                c = max(0.0, math.cos(t))
                return a * math.sin(t), b * c**box

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

    def point(self, xr, yr, side, folds=True):
        """3D point (inches) of a body panel point; side -1 = front, +1 = back. Without
        `folds`, the smooth tube without its analytic hem ripples and drag folds."""
        g = self.g
        box = g.box
        w = self.W(yr)
        f = max(-1.0, min(1.0, xr / w))
        if abs(f) > 0.9995:  # on the seam (rounding aside)
            f = math.copysign(1.0, f)
        theta = self.theta(yr, f)
        c = math.cos(theta)
        sn = math.sin(theta) ** 4
        depth = (self.b(yr) * (c**box if c > 0 else 0.0) + self.e(yr) * sn) * self.fold(xr, yr)
        x = self.a(yr) * math.sin(theta)
        # Soft folds: hem ripples and drag lines running from the underarms.
        ripple = g.hem_ripple_in * math.sin(xr * 0.9 + (1.3 if side > 0 else 0.4)) * smoothstep(
            18.0, g.body_length_in, yr
        )
        drag = 0.0
        for s in (-1.0, 1.0):
            # distance from a diagonal line leaving the underarm towards the centre
            u = (s * xr - (w - 1.0)) + 0.55 * (yr - self.underarm_y)
            along = smoothstep(self.underarm_y, self.underarm_y + 3.0, yr) * (
                1 - smoothstep(self.underarm_y + 6.0, self.underarm_y + 12.0, yr)
            )
            drag += -g.drag_fold_in * math.exp(-(u / 1.2) ** 2) * along
        if not folds:
            ripple = drag = 0.0
        depth = max(0.0, depth + (ripple + drag) * self.fold(xr, yr) * (c**0.3 if c > 0 else 0))
        x_world = x if side < 0 else -x
        return (x_world, side * depth, g.body_length_in - yr)

    def armhole_point(self, side_x, yr, fb):
        """A point of the armhole (inches): side_x +-1, fb -1 front / +1 back.

        Exactly the point of the body panel's armhole edge at yr (folded at the panel's
        half-width W(yr), as the panel's edge is), so cap and body share their seam."""
        fold = self.fold(self.W(yr), yr)
        return (side_x * self.a(yr), fb * self.e(yr) * fold, self.g.body_length_in - yr)


def sleeve_frame(body, k):
    """(armhole centre, sleeve axis, up, opening centre) of a sleeve, inches; k = +1
    wearer's left (+X), -1 right."""
    g = body.g
    mid = (body.shoulder_y + body.underarm_y) / 2
    centre = Vector((k * body.a(mid), 0.0, g.body_length_in - mid))
    drop = math.radians(g.sleeve_drop_deg)
    axis = Vector((k * math.cos(drop), 0.0, -math.sin(drop)))
    up = Vector((k * math.sin(drop), 0.0, math.cos(drop)))
    open_c = centre + axis * g.sleeve_length_in + up * g.sleeve_open_lift_in
    return centre, axis, up, open_c


def sleeve_mapper(body, panel, k):
    """Returns (f, ring) for a sleeve panel; k = +1 wearer's left (+X), -1 right.

    f(x, y) -> 3D point; ring(phi, r, along) -> the point at angle phi on a circle of
    radius r round the sleeve axis, `along` inches beyond the sleeve opening (cuffs).
    """
    g = body.g
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
    centre, axis, up, open_c = sleeve_frame(body, k)

    def cap_y(x):
        u = (x - cx) / cap_half
        return cap_top + cap_h * u * u

    def ring(phi, r, along=0.0):
        return open_c + axis * along + r * (
            math.cos(phi) * up + Vector((0.0, k * math.sin(phi) * 0.92, 0.0))
        )

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
        rp = ring(phi, g.sleeve_open_r_in)
        p = cap.lerp(rp, t)
        # A little fullness in the middle of the sleeve, along the ring's radial direction.
        radial = (rp - open_c).normalized()
        p += radial * (g.sleeve_fullness_in * math.sin(math.pi * t))
        return tuple(p)

    return f, ring


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


class MeshData:
    """Vertices (metres), atlas UVs, rib UVs and faces of the garment being built."""

    def __init__(self):
        self.verts, self.uvs, self.ribs, self.faces = [], [], [], []
        self.parts = []  # per vertex: PART_CLOTH, PART_PINNED or PART_FOLLOW (the drape)
        self.ease = []  # per vertex: 0..1, how much of DRAPE_EASE its fabric gets

    def add(self, p, uv=(0.0, 1.0), rib=(0.0, 0.0), part=None, ease=0.0):
        """Adds a point given in inches; returns its index."""
        self.verts.append((p[0] * INCH, p[1] * INCH, p[2] * INCH))
        self.uvs.append(uv)
        self.ribs.append(rib)
        self.parts.append(PART_FOLLOW if part is None else part)
        self.ease.append(ease)
        return len(self.verts) - 1

    def add_rings(self, rows, closed=True, rib_spacing=None):
        """A band of quads through rows of points (inches), each row a loop.

        UV: atlas (0, 0), outside every panel (the garment colour). Rib UV: u counts
        wales round the loop, v = 1 marks rib fabric.
        """
        n = len(rows[0])
        base = len(self.verts)
        for row in rows:
            along = 0.0
            for i, p in enumerate(row):
                if i:
                    along += (Vector(p) - Vector(row[i - 1])).length
                rib = (along / rib_spacing, 1.0) if rib_spacing else (0.0, 0.0)
                self.add(p, rib=rib)
        span = n if closed else n - 1
        for r in range(len(rows) - 1):
            for i in range(span):
                j = (i + 1) % n
                self.faces.append([base + r * n + i, base + r * n + j,
                                   base + (r + 1) * n + j, base + (r + 1) * n + i])


def smooth_loop(loop, passes):
    """A closed loop of points with its corners rounded: `passes` rounds of each point
    moved to the weighted mean of itself (weight 2) and its two neighbours (1 each)."""
    pts = [Vector(p) for p in loop]
    n = len(pts)
    for _ in range(passes):
        pts = [(pts[i - 1] + pts[i] * 2 + pts[(i + 1) % n]) / 4 for i in range(n)]
    return pts


def add_collar(body, panels, md, rib_spacing):
    """A rib band standing round the neck opening, folded back inside at its top.

    The neckline's loop has corners where the front's and back's necklines meet at the
    shoulder seams; the band's upper rows follow a rounded copy of it, so its top edge
    is one smooth oval instead of rising into a point over each shoulder. Its first row
    starts 0.3 in below the neckline and 0.06 in inwards, inside the body, so no gap
    opens at the seam when the body drapes (the backdrop would show through it as light
    specks).

    The band is not part of the print layout: its UV is atlas (0, 0), outside every panel,
    so it always shows the garment colour.
    """
    front = [body.point(x, y, -1) for x, y in neckline_points(panels["front"])]
    back = [body.point(x, y, 1) for x, y in neckline_points(panels["back"])]
    loop = [Vector(p) for p in front[:-1] + back[:-1]]
    round_ = smooth_loop(loop, 24)
    centre = sum(loop, Vector()) / len(loop)
    up = Vector((0.0, 0.0, 1.0))
    rows = [[], [], [], []]
    for p, q in zip(loop, round_):
        inward = Vector((centre.x - p.x, centre.y - p.y, 0.0)).normalized()
        rows[0].append(p - up * 0.3 + inward * 0.06)
        # Where the band is sewn on it stands a millimetre proud of the body: the seam's
        # shadow line that tells the band from the body in a front view.
        rows[1].append(p - inward * 0.04)
        # The band's top: over the rounded loop, at the mean of the neckline point's height
        # and the rounded loop's (which lowers the shoulder points, where the loop's
        # corners were highest), plus the band's rise.
        top = Vector((q.x, q.y, (p.z + q.z) / 2)) + up * 0.55 + inward * 0.3
        rows[2].append(top)
        rows[3].append(top + inward * 0.18 - up * 0.5)
    md.add_rings([[tuple(p) for p in row] for row in rows], rib_spacing=rib_spacing)


def body_loop(body, yr, n_half=64):
    """The body's cross-section loop at yr (inches): front left to right, back right to left."""
    w = body.W(yr)
    front = [body.point(-w + 2 * w * i / n_half, yr, -1) for i in range(n_half + 1)]
    back = [body.point(-w + 2 * w * i / n_half, yr, 1) for i in range(n_half + 1)]
    # Front runs world -X -> +X; the back's xr -w.. w runs world +X -> -X. The side seams
    # (the ends) are shared.
    return front[:-1] + back[:-1]


def add_hem_band(body, md, band, rib_spacing):
    """A rib band below the body's hem, drawn in slightly (a hoodie's waistband).

    Its top row starts 0.4 in above the hem, inside the body, so no gap shows at the seam.
    """
    hem = body.hem
    loop = [Vector(p) for p in body_loop(body, hem)]
    centre = sum(loop, Vector()) / len(loop)
    height = band["height_in"]
    rows = []
    for frac, lift, scale in ((-0.16, 0.4, 0.97), (0.0, 0.0, 0.985), (0.5, 0.0, None),
                              (1.0, 0.0, None)):
        if scale is None:
            scale = 0.985 + (band["taper"] - 0.985) * frac
        row = []
        for p in loop:
            q = Vector((centre.x + (p.x - centre.x) * scale, centre.y + (p.y - centre.y) * scale,
                        p.z - frac * height + lift))
            row.append(tuple(q))
        rows.append(row)
    # The band's bottom folds inward a little (its thickness).
    last = rows[-1]
    rows.append([(centre.x + (x - centre.x) * 0.95, centre.y + (y - centre.y) * 0.95, z + 0.08)
                 for x, y, z in last])
    md.add_rings(rows, rib_spacing=rib_spacing)


def add_cuff(g, ring, md, rib_spacing, n=72):
    """A rib cuff continuing a sleeve's opening: it narrows to the cuff radius."""
    cuff = g.cuffs
    r0 = g.sleeve_open_r_in
    r1 = cuff["radius_in"]
    length = cuff["length_in"]
    rows = []
    for along, r in ((-0.35, r0 * 0.96), (0.0, r0 * 0.97), (0.25 * length, r0 * 0.9 + r1 * 0.1),
                     (0.6 * length, r1 * 1.02), (length, r1), (length - 0.06, r1 * 0.9)):
        rows.append([tuple(ring(2 * math.pi * i / n, r, along)) for i in range(n)])
    md.add_rings(rows, rib_spacing=rib_spacing)


def panel_frame(panel):
    poly = panel["polygon"]
    xs = [p[0] for p in poly]
    ys = [p[1] for p in poly]
    return min(xs), max(xs), min(ys), max(ys)


def _bezier(a, b, c, t):
    return a * (1 - t) ** 2 + b * (2 * t * (1 - t)) + c * t * t


def hood_mapper(body, panels, g, k):
    """Returns f(x, y) -> 3D point for a hood side panel; k = +1 wearer's left, -1 right.

    The hood stands round the head's place (ghost mannequin), built as a Coons patch over
    four boundary curves: the neckline (the panel's bottom edge), the centre back seam
    (its back edge), the crown seam (its top edge) and the face opening (its front edge),
    all in the centre plane x = 0 except the neckline and the face opening, plus a
    sideways bulge. On the flat panel the front edge is the one nearer the wearer's front
    when the side is seen from outside: the left edge for the left side, the right edge
    for the right side.
    """
    hood = g.hood
    name = hood["panels"][0 if k > 0 else 1]
    x0, x1, y0, y1 = panel_frame(panels[name])
    bottom = panels[name]["hem_y"]
    # The neckline, centre front (s = 0) to centre back (s = 1), on this side.
    fpts = neckline_points(panels["front"])
    bpts = neckline_points(panels["back"])
    front = [Vector(body.point(x, y, -1)) for x, y in fpts]
    back = [Vector(body.point(x, y, 1)) for x, y in bpts]
    # Built on the wearer's left (+X) and mirrored for the right: the neckline is
    # symmetric, and the two sides' seam points then agree exactly (they are welded).
    nf = len(front) // 2
    half = front[nf:] + back[1: len(back) // 2 + 1]
    lengths = [0.0]
    for a, b in zip(half, half[1:]):
        lengths.append(lengths[-1] + (b - a).length)
    total = lengths[-1]
    # Tuck the seam a little inside the neck opening, so no gap shows.
    centre = sum(half, Vector()) / len(half)
    centre.x = 0.0  # the neck's centre line: the seam ends stay in the plane x = 0

    def c0(s):
        d = s * total
        i = 0
        while i < len(lengths) - 2 and lengths[i + 1] < d:
            i += 1
        t = (d - lengths[i]) / max(1e-9, lengths[i + 1] - lengths[i])
        p = half[i].lerp(half[i + 1], max(0.0, min(1.0, t)))
        inward = Vector((centre.x - p.x, centre.y - p.y, 0.0))
        if inward.length > 1e-9:
            p = p + inward.normalized() * 0.12
        return p - Vector((0.0, 0.0, 0.2))

    z_top = g.body_length_in
    n0, n1 = c0(0.0), c0(1.0)
    n0.x = 0.0
    n1.x = 0.0
    rise = hood["rise_in"]
    B = Vector((0.0, n1.y + hood["lean_in"], z_top + rise - 1.0))
    F = Vector((0.0, B.y - hood["depth_in"], z_top + rise - 2.0))
    crown = Vector((0.0, (F.y + B.y) / 2 + 0.4, z_top + rise + 1.5))
    back_ctrl = Vector((0.0, n1.y + hood["lean_in"] * 1.3, (n1.z + B.z) / 2))
    face_ctrl = Vector((0.0, min(n0.y, F.y) - 0.6, (n0.z + F.z) / 2))
    half_w = hood["opening_half_width_in"]

    def c1(s):  # crown seam, forehead (s = 0) to the back's top (s = 1)
        return _bezier(F, crown, B, s)

    def d1(h):  # centre back seam, back neck (h = 0) to the back's top (h = 1)
        return _bezier(n1, back_ctrl, B, h)

    def d0(h):  # face opening, centre front neck (h = 0) to the forehead (h = 1)
        p = _bezier(n0, face_ctrl, F, h)
        p.x = half_w * math.sin(math.pi * h) ** 0.7
        return p

    c00, c10, c01, c11 = c0(0.0), c0(1.0), c1(0.0), c1(1.0)
    c00.x = 0.0
    c10.x = 0.0

    def f(x, y):
        s = (x - x0) / (x1 - x0)
        if k < 0:
            s = 1.0 - s
        h = (bottom - y) / (bottom - y0)
        s = max(0.0, min(1.0, s))
        h = max(0.0, min(1.0, h))
        p = ((1 - h) * c0(s) + h * c1(s) + (1 - s) * d0(h) + s * d1(h)
             - ((1 - s) * (1 - h) * c00 + s * (1 - h) * c10 + (1 - s) * h * c01 + s * h * c11))
        bulge = hood["bulge_in"] * math.sin(math.pi * s) * math.sin(math.pi * h) ** 0.45
        p.x = abs(p.x) + bulge
        p.x *= k
        return tuple(p)

    return f


def pocket_mapper(body, panels, g):
    """Returns f(x, y) -> 3D point for the kangaroo pocket, sewn over the front panel.

    The pocket's collar point (the middle of its top edge) sits `top_in` below the front
    collar point on the centre line; its other points follow the front's surface at the
    same offsets, standing off it by `standoff_in` at the sewn edges (top and bottom) and
    by up to `standoff_in + puff_in` in the middle and at the open sides.
    """
    pk = g.pocket
    panel = panels[pk["panel"]]
    front = panels["front"]
    ftop = min(p[1] for p in front["polygon"])
    top_yr = front["collar_point"][1] - ftop + pk["top_in"]
    px, py = panel["collar_point"]
    x0, x1, y0, y1 = panel_frame(panel)
    hw = max(px - x0, x1 - px)

    def surface(xr, yr):
        return Vector(body.point(xr, yr, -1))

    def f(x, y):
        xr = x - px
        yr = top_yr + (y - py)
        p = surface(xr, yr)
        du = surface(xr + 0.05, yr) - p
        dv = surface(xr, yr + 0.05) - p
        n = du.cross(dv)
        if n.y > 0:
            n = -n
        n = n.normalized() if n.length > 1e-12 else Vector((0.0, -1.0, 0.0))
        v = (y - y0) / max(1e-6, y1 - y0)  # 0 at the top seam, 1 at the bottom seam
        u = abs(xr) / hw  # 0 in the middle, 1 at the sides
        puff = math.sin(math.pi * v) * (0.55 + 0.45 * u ** 2)
        return tuple(p + n * (pk["standoff_in"] + pk["puff_in"] * puff))

    return f


def armhole_heights(body, front):
    """The heights (inches below the top) of the body panel's outline vertices on its
    armhole, shoulder point to underarm: where the sleeve caps get their edge vertices."""
    poly = front["polygon"]
    cx = front["center_x"]
    top = min(p[1] for p in poly)
    out = set()
    for x, y in resample_loop(poly, GRID_STEP):
        xr, yr = x - cx, y - top
        if (xr > 0 and body.shoulder_y - 1e-9 <= yr <= body.underarm_y + 1e-9
                and abs(xr - body.W(yr)) < 1e-6):
            out.add(round(yr, 9))
    out.update((body.shoulder_y, body.underarm_y))
    return sorted(out)


def sleeve_outline(body, panel, seam_yr):
    """The sleeve panel's outline vertices: its cap at the parabola points that the
    mapping sends onto the body's armhole vertices (so cap and body weld vertex for
    vertex: no slit between their edges), the rest resampled as usual.

    The cap run is the polygon's first points, from one cap end (-1) to the other (+1).
    """
    poly = panel["polygon"]
    cx = panel["center_x"]
    cap_top = min(p[1] for p in poly)
    half = max(abs(p[0] - cx) for p in poly)
    ends = [i for i, p in enumerate(poly) if abs(abs(p[0] - cx) - half) < 1e-6]
    if len(ends) != 2 or ends[0] != 0:
        return None  # not the expected layout: resample the polygon as it is
    j = ends[1]
    cap_h = poly[0][1] - cap_top
    lo, hi = body.shoulder_y, body.underarm_y
    us = sorted({(yr - lo) / (hi - lo) for yr in seam_yr} | {0.0, 1.0})
    us = [-u for u in reversed(us) if u > 0] + us
    lead = poly[0][0] < cx  # the run goes from the left cap end to the right one
    cap = [(cx + (u if lead else -u) * half, cap_top + cap_h * u * u) for u in us]
    rest = resample_loop([poly[j]] + poly[j + 1:] + [poly[0]], GRID_STEP)
    # resample_loop closes the run back to poly[j]; keep its open part poly[j] .. poly[0).
    rest = rest[: len(rest) - max(1, int(math.ceil(
        math.hypot(poly[0][0] - poly[j][0], poly[0][1] - poly[j][1]) / GRID_STEP - 1e-9)))]
    return cap[:-1] + rest


# ---------------------------------------------------------------------------------------
# Drape: Blender's cloth simulation settles the analytic shell on a hidden body form.

PART_CLOTH, PART_PINNED, PART_FOLLOW = 0, 1, 2  # how the drape treats a vertex
DRAPE_NECK_PIN_IN = 0.45  # body fabric this close to the neckline (pattern inches) stays put
DRAPE_CUFF_PIN_IN = 0.5  # sleeve fabric this close to a cuff (pattern inches) stays put
DRAPE_FRAMES = 36  # frames simulated at 24 fps (1.5 s of settling)
DRAPE_QUALITY = 5  # cloth solver steps per frame
DRAPE_MASS = 0.15  # kg per vertex (with the stiffnesses below: cotton jersey's hang)
DRAPE_STIFFNESS = 40.0  # tension and compression: the knit keeps its length (print size)
DRAPE_SHEAR = 10.0
DRAPE_BENDING = 0.002  # low: the fabric folds where it has room to
DRAPE_EASE = 0.06  # extra fabric length (fraction) where a panel's ease weight is 1
# The form's gaps inside the shell, inches: (at the underarm, at the hem).
FORM_GAP_SIDE_IN = (0.45, 0.9)  # at the sides (half-width taken in)
FORM_GAP_DEPTH_IN = (0.3, 0.45)  # front and back (half-depth taken in)
FORM_DROP_IN = 0.25  # the form's shoulders below the shell's
ARM_DROP_DEG = 10.0  # a short sleeve's arm hangs this much lower than the sleeve was cut
ARM_GAP_IN = 0.15  # between the top of a sleeve and the arm inside it


def body_ease(body, xr, yr):
    """0..1: how much extra fabric (DRAPE_EASE) a body panel point gets: none over the
    front and back's middle (where prints go, so they keep their size), more towards the
    sides below the armholes and towards the hem, most at the sides of the hem."""
    f = abs(xr) / max(1e-6, body.W(yr))
    side = smoothstep(0.6, 0.95, f) * smoothstep(body.underarm_y - 1.0, body.underarm_y + 2.0, yr)
    hem = 0.5 * smoothstep(body.hem - 6.0, body.hem, yr) * smoothstep(0.25, 0.6, f)
    return min(1.0, side + hem)


def _dist_to_run(run, x, y):
    """Distance from (x, y) to the open polyline `run`."""
    best = 1e9
    for (x1, y1), (x2, y2) in zip(run, run[1:]):
        dx, dy = x2 - x1, y2 - y1
        ll = dx * dx + dy * dy
        t = 0.0 if ll == 0 else max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / ll))
        best = min(best, math.hypot(x - x1 - t * dx, y - y1 - t * dy))
    return best


def _form_object(name, verts, faces):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(x * INCH, y * INCH, z * INCH) for x, y, z in verts], [], faces)
    bm = bmesh.new()
    bm.from_mesh(mesh)
    bmesh.ops.recalc_face_normals(bm, faces=bm.faces)
    bm.to_mesh(mesh)
    bm.free()
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.hide_render = True
    obj.modifiers.new("collision", "COLLISION")
    obj.collision.thickness_outer = 0.002
    obj.collision.thickness_inner = 0.01
    obj.collision.cloth_friction = 10.0
    obj.collision.damping = 0.5
    return obj


def build_form(body, g):
    """The hidden body form the garment is draped on (inches, the shell's frame): a torso
    just inside the shell (closer at the chest and shoulders, looser at the sides and the
    lower body) and an arm inside each sleeve, resting under the sleeve's top."""
    lift = g.lift_in
    n_half = 40
    ys = []
    y = 0.12
    while y < body.hem + 1.0:
        ys.append(y)
        y += 0.4 if y < 3.0 else 0.6
    rows = []
    for yr in ys:
        w = body.W(yr)
        xmax = w
        if yr < body.shoulder_y:
            xmax = min(w, body.neck_x + (body.shoulder_x - body.neck_x) * yr / body.shoulder_y)
        xmax *= 0.999
        t = smoothstep(body.underarm_y, body.hem, yr)
        gap_side = FORM_GAP_SIDE_IN[0] + (FORM_GAP_SIDE_IN[1] - FORM_GAP_SIDE_IN[0]) * t
        gap_depth = FORM_GAP_DEPTH_IN[0] + (FORM_GAP_DEPTH_IN[1] - FORM_GAP_DEPTH_IN[0]) * t
        sx = max(0.5, 1.0 - gap_side / body.a(yr))
        sy = max(0.5, 1.0 - gap_depth / body.b(yr))
        loop = []
        for side in (-1, 1):
            xs = [-xmax + 2 * xmax * i / n_half for i in range(n_half + 1)]
            pts = [body.point(x, yr, side, folds=False) for x in xs]
            loop.extend(pts[:-1] if side < 0 else pts[:-1])
        rows.append([(x * sx, yd * sy, z - FORM_DROP_IN + lift) for x, yd, z in loop])
    n = len(rows[0])
    verts = [p for row in rows for p in row]
    faces = []
    for r in range(len(rows) - 1):
        for i in range(n):
            j = (i + 1) % n
            faces.append([r * n + i, r * n + j, (r + 1) * n + j, (r + 1) * n + i])
    top = rows[0]
    cz = sum(p[2] for p in top) / n + 0.1
    verts.append((0.0, 0.0, cz))
    c = len(verts) - 1
    for i in range(n):
        faces.append([i, c, (i + 1) % n][::-1])
    objs = [_form_object("form_torso", verts, faces)]

    # Arms: a tube round each sleeve's axis (armhole centre to opening centre), carried up
    # so its top lies ARM_GAP_IN under the sleeve's top, from inside the torso to beyond
    # the opening (or the cuff).
    for k in (1, -1):
        centre, _axis, _up, open_c = sleeve_frame(body, k)
        d = open_c - centre
        length = d.length
        d.normalize()
        up = Vector((-d.z, 0.0, d.x)) if k > 0 else Vector((d.z, 0.0, -d.x))
        if up.z < 0:
            up = -up
        side = Vector((0.0, 1.0, 0.0))
        cap_top = Vector((k * body.a(body.shoulder_y), 0.0, g.body_length_in - body.shoulder_y))
        top0 = (cap_top - centre).dot(up)
        e_max = g.armhole_open_in
        r0 = min(1.8, e_max - 0.3, top0 - ARM_GAP_IN)
        r1 = min(1.75, g.sleeve_open_r_in * 0.72)
        beyond = 1.5 + (g.cuffs["length_in"] if g.cuffs is not None else 0.0)
        rings = []
        m = 24
        steps = 24
        for si in range(steps + 1):
            s = -3.0 + (length + beyond + 3.0) * si / steps
            t = max(0.0, min(1.0, s / length))
            top = top0 + (g.sleeve_open_r_in - top0) * t + g.sleeve_fullness_in * math.sin(
                math.pi * t)
            r = r0 + (r1 - r0) * t
            axis_pt = centre + d * s + up * (top - r - ARM_GAP_IN)
            rings.append([axis_pt + r * (math.cos(2 * math.pi * j / m) * up
                                         + math.sin(2 * math.pi * j / m) * side)
                          for j in range(m)])
        # The arm hangs ARM_DROP_DEG lower than the sleeve was cut round (turned about
        # the shoulder point): the sleeve settles on it, gathering under the arm.
        drop_by = min(ARM_DROP_DEG, max(0.0, (70.0 - g.sleeve_drop_deg) / 2.0))
        turn = Matrix.Rotation(math.radians(drop_by), 3, Vector((0.0, float(k), 0.0)))
        rings = [[cap_top + turn @ (p - cap_top) for p in ring] for ring in rings]
        verts = [(p.x, p.y, p.z + lift) for ring in rings for p in ring]
        faces = []
        for r in range(len(rings) - 1):
            for i in range(m):
                j = (i + 1) % m
                faces.append([r * m + i, r * m + j, (r + 1) * m + j, (r + 1) * m + i])
        for ring_i, sign in ((0, -1), (len(rings) - 1, 1)):
            cpt = sum(rings[ring_i], Vector()) / m
            verts.append((cpt.x, cpt.y, cpt.z + lift))
            c = len(verts) - 1
            for i in range(m):
                f = [ring_i * m + i, ring_i * m + (i + 1) % m, c]
                faces.append(f if sign > 0 else f[::-1])
        objs.append(_form_object("form_arm_l" if k > 0 else "form_arm_r", verts, faces))
    return objs


# Top-level names of this file that do not shape the garment or its drape (the studio,
# the material, the stored drape's I/O): drape_key leaves their code out, so changing
# them keeps every drape.
NOT_SHAPE = {
    "HERE", "ROOT", "DEFAULT_TEMPLATE", "CAMERA_DISTANCE", "CAMERA_LENS", "CAMERA_TARGET_Z",
    "BACKGROUND", "LIGHT_EXPOSURE", "STILLS", "TURNTABLE_ELEVATION", "SHADOW_TERMS",
    "shadow_pixels", "NOT_SHAPE", "shape_source", "canonical", "drape_key",
    "drape_cache_path", "STORED_DRAPE_FILE", "STORED_DRAPE_MAGIC",
    "STORED_DRAPE_MAX_VERTICES", "STORED_DRAPE_MAX_COORDINATE", "read_stored_drape",
    "write_stored_drape", "cached_drape", "build_material", "add_area_light", "build_scene",
    "set_view", "parse_args", "hex_to_linear", "main", "STITCH_ROWS_IN", "HEM_STITCH_IN",
    "SLEEVE_HEM_STITCH_IN", "SEAM_STITCH_IN", "STITCH_NONE", "STITCH_WIDTH_IN",
    "STITCH_DEPTH_M", "STITCH_STRENGTH", "CORD_SPREAD_IN", "CORD_RISE_IN", "CORD_LENGTH_IN",
    "CORD_RADIUS_IN", "CORD_FLATNESS", "AGLET_LENGTH_IN", "AGLET_RADIUS_IN", "CORD_CLEARANCE_IN",
    "EYELET_RADIUS_IN", "EYELET_TUBE_IN", "add_drawcords",
    "stitch_coordinates", "add_stitch_map", "_math", "stitch_height",
}


def shape_source():
    """The code of this file that shapes the garment and its drape: every top-level
    statement but the module docstring, the `__main__` block and the names in NOT_SHAPE,
    as written, without comment-only and blank lines. Plain text, so the same script gives
    the same text under every Python and Blender version."""
    import ast

    with open(os.path.abspath(__file__), encoding="utf-8") as f:
        src = f.read()
    lines = src.splitlines()
    kept = []
    for node in ast.parse(src).body:
        if isinstance(node, (ast.Expr, ast.If)):  # the docstring, the __main__ block
            continue
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names = {node.name}
        elif isinstance(node, ast.Assign):
            names = {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        else:
            names = set()
        if names & NOT_SHAPE:
            continue
        for line in lines[node.lineno - 1: node.end_lineno]:
            if line.strip() and not line.strip().startswith("#"):
                kept.append(line.rstrip())
    return "\n".join(kept)


def canonical(value):
    """`value` (parsed JSON) with every number a float and every null left out, so that
    a manifest read as written (`22`) and as the library writes it back (`22.0`) agree."""
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if value is None:
        return None
    raise TypeError(f"not a JSON value: {value!r}")


def drape_key(template, g):
    """A hash (32 hex digits) of what the drape depends on: the pack's atlas size and
    panels, its garment parameters (defaults filled in), and the code that builds the
    garment's mesh, its body form and the simulation (shape_source). Computed from these
    inputs, not from the mesh's coordinates, so every machine computes the same key for
    the same pack and script. A change to the lights, the material or the camera keeps
    it; a change to the garment's shape, parameters or pattern changes it."""
    import hashlib

    inputs = {
        "atlas": [template["atlas"]["width_in"], template["atlas"]["height_in"]],
        # The panel fields the library keeps when it writes a manifest back for Blender.
        "panels": [{k: p.get(k) for k in ("name", "polygon", "center_x", "collar_point", "hem_y")}
                   for p in template["panels"]],
        "garment": g.__dict__,
    }
    h = hashlib.sha256()
    h.update(json.dumps(canonical(inputs), sort_keys=True).encode())
    h.update(b"\0")
    h.update(shape_source().encode())
    return h.hexdigest()[:32]


def drape_cache_path(key):
    """Where the drape of key `key` (drape_key) is cached on this machine:
    ~/.cache/render-engine/drape/<hash of key and Blender's version>.bin; None without a
    home directory (another Blender version may drape a little differently)."""
    import hashlib

    home = os.environ.get("HOME")
    if not home:
        return None
    name = hashlib.sha256(f"{key} {bpy.app.version_string}".encode()).hexdigest()[:32]
    return os.path.join(home, ".cache", "render-engine", "drape", name + ".bin")


# The drape a bake stores (baked/drape.bin), so that live renders of the pack take the
# very shape the bake drew, on any machine and Blender version, without simulating:
# STORED_DRAPE_MAGIC, the drape_key (32 ASCII hex digits), the vertex count (u32 little-endian),
# then x, y, z of every vertex (f32 little-endian, metres). The library checks the same
# layout (src/render/baked.rs).
STORED_DRAPE_FILE = "drape.bin"
STORED_DRAPE_MAGIC = b"REDRAPE1"
STORED_DRAPE_MAX_VERTICES = 1_000_000
STORED_DRAPE_MAX_COORDINATE = 10.0  # metres


def read_stored_drape(path, key, n):
    """The vertex positions of a stored drape, or None (with the reason printed) when
    the file is unreadable, malformed, or for another mesh (another key or count)."""
    import struct
    from array import array

    try:
        with open(path, "rb") as f:
            data = f.read(8 + 32 + 4 + 12 * STORED_DRAPE_MAX_VERTICES + 1)
    except OSError as e:
        print(f"DRAPE stored drape {path} unreadable ({e}); draping", flush=True)
        return None
    head = 8 + 32 + 4
    if len(data) < head or data[:8] != STORED_DRAPE_MAGIC:
        print(f"DRAPE stored drape {path} is not a drape file; draping", flush=True)
        return None
    stored_key = data[8:40].decode("ascii", "replace")
    (count,) = struct.unpack("<I", data[40:44])
    if stored_key != key or count != n or len(data) != head + 12 * n:
        print(f"DRAPE stored drape {path} is for another mesh (key {stored_key}, {count} "
              f"vertices; this one {key}, {n}); draping", flush=True)
        return None
    values = array("f")
    values.frombytes(data[head:])
    if sys.byteorder != "little":
        values.byteswap()
    if not all(math.isfinite(c) and abs(c) <= STORED_DRAPE_MAX_COORDINATE for c in values):
        print(f"DRAPE stored drape {path} has coordinates out of range; draping", flush=True)
        return None
    print(f"DRAPE from the pack's bake {path}", flush=True)
    return [tuple(values[3 * i: 3 * i + 3]) for i in range(n)]


def write_stored_drape(path, key, verts):
    """Writes `verts` as a stored drape (the layout above) to `path`."""
    import struct
    from array import array

    values = array("f", [c for v in verts for c in v])
    if sys.byteorder != "little":
        values.byteswap()
    with open(path, "wb") as f:
        f.write(STORED_DRAPE_MAGIC + key.encode("ascii") + struct.pack("<I", len(verts)))
        f.write(values.tobytes())


def cached_drape(md, body, g, template, stored=None, store_to=None):
    """The draped vertex positions of the mesh: from the pack's stored drape `stored`
    (a baked/drape.bin path) when it is for this mesh, else from this machine's drape
    cache when it was draped here before (the simulation takes 0.5 to 2.5 minutes), else
    simulated (drape_positions) and cached. `store_to`: where the bake writes the drape
    it drew (rounded to f32 as stored, so the bake draws exactly what it stores)."""
    from array import array

    key = drape_key(template, g)
    n = len(md.verts)
    verts = read_stored_drape(stored, key, n) if stored else None
    path = drape_cache_path(key)
    if verts is None and path and os.path.exists(path):
        data = array("d")
        try:
            with open(path, "rb") as f:
                data.frombytes(f.read())
        except OSError:
            data = array("d")
        if len(data) == 3 * n:
            print(f"DRAPE from the cache {path}", flush=True)
            verts = [tuple(data[3 * i: 3 * i + 3]) for i in range(n)]
    if verts is None:
        verts = drape_positions(md, body, g)
        if path:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = f"{path}.{os.getpid()}.tmp"
                with open(tmp, "wb") as f:
                    array("d", [c for v in verts for c in v]).tofile(f)
                os.replace(tmp, path)
            except OSError:
                pass  # a read-only home: drape again next time
    if store_to:
        write_stored_drape(store_to, key, verts)
        rounded = array("f", [c for v in verts for c in v])
        verts = [tuple(rounded[3 * i: 3 * i + 3]) for i in range(n)]
    return verts


def drape_positions(md, body, g):
    """Sews the garment from its pattern panels and drapes it on the body form with
    Blender's cloth simulation; returns the draped vertex positions (metres).

    The cloth is the body panels and sleeves as the analytic shell lays them out, not yet
    welded: every vertex the weld would merge is joined to its twins by a sewing spring.
    Its rest shape is the shell, so the fabric keeps its lengths (a print keeps its size),
    except that the fabric towards the sides and the hem is given DRAPE_EASE more length
    (body_ease), which it can only take up by folding. Gravity settles it on the hidden
    form (build_form) for DRAPE_FRAMES frames. The fabric round the neckline stays put
    (the collar holds it), and so does a sleeve's last half inch under a cuff; the
    collar, cuffs, hem band, hood and pocket (not sewn to the cloth) follow the cloth's
    nearest vertices. Blender's cloth solver is deterministic: the same pack drapes the
    same way every run (the bake and a live render agree)."""
    import time
    from mathutils.kdtree import KDTree

    t0 = time.time()
    scene = bpy.context.scene
    n = len(md.verts)
    parts = md.parts
    start = [Vector(v) for v in md.verts]
    # Seams: groups of coincident cloth vertices (what the weld merges).
    tree = KDTree(n)
    for i, v in enumerate(start):
        tree.insert(v, i)
    tree.balance()
    group = list(range(n))

    def root(i):
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i, v in enumerate(start):
        if parts[i] == PART_FOLLOW:
            continue
        for _co, j, _d in tree.find_range(v, 1e-5):
            if j != i and parts[j] != PART_FOLLOW:
                a, b = root(i), root(j)
                if a != b:
                    group[max(a, b)] = min(a, b)
    members = {}
    for i in range(n):
        if parts[i] != PART_FOLLOW:
            members.setdefault(root(i), []).append(i)
    sewing = []
    for ms in members.values():
        sewing.extend((ms[k], ms[k + 1]) for k in range(len(ms) - 1))

    mesh = bpy.data.meshes.new("drape")
    mesh.from_pydata(md.verts, sewing, md.faces)
    mesh.update()
    obj = bpy.data.objects.new("drape", mesh)
    scene.collection.objects.link(obj)
    obj.hide_render = True
    pin = obj.vertex_groups.new(name="pin")
    pin.add([i for i in range(n) if parts[i] != PART_CLOTH], 1.0, "REPLACE")
    forms = build_form(body, g)

    mod = obj.modifiers.new("cloth", "CLOTH")
    st = mod.settings
    st.quality = DRAPE_QUALITY
    st.mass = DRAPE_MASS
    st.air_damping = 1.0
    st.tension_stiffness = DRAPE_STIFFNESS
    st.compression_stiffness = DRAPE_STIFFNESS
    st.shear_stiffness = DRAPE_SHEAR
    st.bending_stiffness = DRAPE_BENDING
    st.tension_damping = 5.0
    st.compression_damping = 5.0
    st.shear_damping = 5.0
    st.bending_damping = 0.5
    st.vertex_group_mass = "pin"
    st.pin_stiffness = 1.0
    st.use_sewing_springs = True
    st.sewing_force_max = 0.0
    if DRAPE_EASE:
        # Blender keeps shrink_max >= shrink_min: the group's weight is 1 - ease, weight 0
        # (ease 1) grows the fabric by DRAPE_EASE, weight 1 leaves it as cut.
        ease = obj.vertex_groups.new(name="ease")
        for i in range(n):
            ease.add([i], 1.0 - md.ease[i], "REPLACE")
        st.vertex_group_shrink = "ease"
        st.shrink_min = -DRAPE_EASE
        st.shrink_max = 0.0
    cs = mod.collision_settings
    cs.use_collision = True
    cs.distance_min = 0.003
    cs.collision_quality = 3
    cs.use_self_collision = False
    mod.point_cache.frame_start = 1
    mod.point_cache.frame_end = DRAPE_FRAMES
    scene.frame_start = 1
    scene.frame_end = DRAPE_FRAMES
    for f in range(1, DRAPE_FRAMES + 1):
        scene.frame_set(f)
    dg = bpy.context.evaluated_depsgraph_get()
    moved = [v.co.copy() for v in obj.evaluated_get(dg).data.vertices]
    scene.frame_set(1)
    bpy.data.objects.remove(obj)
    bpy.data.meshes.remove(mesh)
    for f in forms:
        m = f.data
        bpy.data.objects.remove(f)
        bpy.data.meshes.remove(m)
    # Seams: twins to their mean (the weld merges them).
    for ms in members.values():
        if len(ms) > 1:
            c = sum((moved[i] for i in ms), Vector()) / len(ms)
            for i in ms:
                moved[i] = c.copy()
    # Followers: the inverse-distance mean of the displacement of their 6 nearest cloth
    # vertices (positions before the drape).
    cloth = [i for i in range(n) if parts[i] != PART_FOLLOW]
    ctree = KDTree(len(cloth))
    for j, i in enumerate(cloth):
        ctree.insert(start[i], j)
    ctree.balance()
    for i in range(n):
        if parts[i] == PART_FOLLOW:
            acc, wsum = Vector(), 0.0
            for _co, j, dist in ctree.find_n(start[i], 6):
                w = 1.0 / max(dist, 1e-4) ** 2
                acc += (moved[cloth[j]] - start[cloth[j]]) * w
                wsum += w
            moved[i] = start[i] + acc / wsum
    if os.environ.get("DRAPE_DEBUG"):  # development: the shell and the drape, as JSON
        with open(os.environ["DRAPE_DEBUG"], "w") as fh:
            json.dump({"start": [tuple(v) for v in start], "moved": [tuple(v) for v in moved],
                       "uv": md.uvs, "parts": parts, "faces": md.faces}, fh)
    shift = sorted((m - o).length / INCH for m, o in zip(moved, start))
    print(f"DRAPE {n} vertices, {len(sewing)} sewing springs, {DRAPE_FRAMES} frames: "
          f"{time.time() - t0:.1f} s; moved median {shift[len(shift) // 2]:.2f} in, "
          f"95% {shift[len(shift) * 95 // 100]:.2f} in, max {shift[-1]:.2f} in", flush=True)
    return [tuple(v) for v in moved]


def build_mesh(template, drape=True, stored_drape=None, store_drape_to=None):
    """The garment object of the pack `template` (its manifest), draped unless `drape` is
    false; `stored_drape`, `store_drape_to`: see cached_drape."""
    W_in = template["atlas"]["width_in"]
    H_in = template["atlas"]["height_in"]
    g = Garment(template)
    panels = {p["name"]: p for p in template["panels"]}
    body = Body(panels["front"], g)
    rib = g.rib_spacing_in if g.rib_texture else None

    md = MeshData()

    oriented = []  # faces whose winding is set here, outwards from a given centre

    def add_panel(panel, mapper, centre=None, loop=None, part=PART_FOLLOW, pinned=None,
                  ease=None):
        """`part`: how the drape treats the panel's vertices; `pinned(x, y)` says which of
        them stay put (PART_PINNED) instead; `ease(x, y)` their fabric's extra length."""
        pts, tris = triangulate(panel["polygon"], loop=loop)
        base = len(md.verts)
        for x, y in pts:
            pp = PART_PINNED if pinned is not None and pinned(x, y) else part
            md.add(mapper(x, y), uv=(x / W_in, 1.0 - y / H_in), part=pp,
                   ease=0.0 if ease is None else ease(x, y))
        faces = [[base + i for i in t] for t in tris]
        if centre is not None:
            # The triangulation winds every triangle the same way and the mapping keeps
            # it, so one sum decides the whole panel: normals must point away from the
            # centre (the back faces are the inside, which shows no print).
            c = Vector(centre) * INCH
            total = 0.0
            for f in faces:
                a, b, d = (Vector(md.verts[i]) for i in f)
                total += (b - a).cross(d - a).dot((a + b + d) / 3 - c)
            if total < 0:
                faces = [f[::-1] for f in faces]
            oriented.extend(range(len(md.faces), len(md.faces) + len(faces)))
        md.faces.extend(faces)

    for name, side in (("front", -1), ("back", 1)):
        p = panels[name]
        top = min(q[1] for q in p["polygon"])
        cx = p["center_x"]
        neck = [(x + cx, y + top) for x, y in neckline_points(p)]
        add_panel(p, lambda x, y, cx=cx, top=top, side=side: body.point(x - cx, y - top, side),
                  part=PART_CLOTH,
                  pinned=lambda x, y, neck=neck: _dist_to_run(neck, x, y) < DRAPE_NECK_PIN_IN,
                  ease=lambda x, y, cx=cx, top=top: body_ease(body, x - cx, y - top))
    seam_yr = armhole_heights(body, panels["front"])
    for name, k in (("left_sleeve", +1), ("right_sleeve", -1)):
        f, ring = sleeve_mapper(body, panels[name], k)
        hem_y = panels[name]["hem_y"]
        # A cuff grips the wrist: the sleeve's last half inch stays put under it.
        cuff_pin = None if g.cuffs is None else (lambda x, y, h=hem_y: y > h - DRAPE_CUFF_PIN_IN)
        add_panel(panels[name], f, loop=sleeve_outline(body, panels[name], seam_yr),
                  part=PART_CLOTH, pinned=cuff_pin)
        if g.cuffs is not None:
            add_cuff(g, ring, md, rib)

    if g.collar == "rib":
        add_collar(body, panels, md, rib)
    if g.hem_band is not None:
        add_hem_band(body, md, g.hem_band, rib)
    if g.hood is not None:
        # The hood's inside is round the head's place, above the neck.
        inside = (0.0, 0.0, g.body_length_in + 0.35 * g.hood["rise_in"])
        for i, k in enumerate((+1, -1)):
            add_panel(panels[g.hood["panels"][i]], hood_mapper(body, panels, g, k), inside)
    if g.pocket is not None:
        add_panel(panels[g.pocket["panel"]], pocket_mapper(body, panels, g),
                  (0.0, 0.0, g.body_length_in - body.hem))
    if g.lift_in:
        dz = g.lift_in * INCH
        md.verts = [(x, y, z + dz) for x, y, z in md.verts]
    if drape and os.environ.get("RENDER_ENGINE_NO_DRAPE") != "1":
        md.verts = cached_drape(md, body, g, template, stored_drape, store_drape_to)

    mesh = bpy.data.meshes.new(template.get("id", "garment"))
    mesh.from_pydata(md.verts, [], md.faces)
    uv_layer = mesh.uv_layers.new(name="atlas")
    for poly in mesh.polygons:
        for li in poly.loop_indices:
            uv_layer.data[li].uv = md.uvs[mesh.loops[li].vertex_index]
    if rib:
        rib_layer = mesh.uv_layers.new(name="rib")
        for poly in mesh.polygons:
            for li in poly.loop_indices:
                rib_layer.data[li].uv = md.ribs[mesh.loops[li].vertex_index]


    bm = bmesh.new()
    bm.from_mesh(mesh)
    # Faces keep their order through from_pydata and the weld: mark the ones oriented
    # above, which the normal fixing below leaves alone.
    part = bm.faces.layers.int.new("oriented")
    bm.faces.ensure_lookup_table()
    for i in oriented:
        bm.faces[i][part] = 1
    # Weld the seams (side, shoulder, sleeve underarm); UVs stay per corner.
    bmesh.ops.remove_doubles(bm, verts=bm.verts, dist=1e-5)
    free = [f for f in bm.faces if not f[part]]
    bmesh.ops.recalc_face_normals(bm, faces=free)
    # Make sure normals face outwards: the front panel's middle faces -Y.
    front_faces = [f for f in free if f.calc_center_median().y < -0.05
                   and abs(f.calc_center_median().x) < 0.05]
    if front_faces and sum(f.normal.y for f in front_faces) > 0:
        bmesh.ops.reverse_faces(bm, faces=free)
    bm.faces.layers.int.remove(part)
    bm.to_mesh(mesh)
    bm.free()
    for poly in mesh.polygons:
        poly.use_smooth = True
    mesh.update()
    obj = bpy.data.objects.new("garment", mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


# Construction stitching, drawn by the material as two fine grooves (a twin-needle
# coverstitch) along the edges a garment's maker finishes; not part of the garment's
# shape, so changing it never re-drapes. The mesh's `stitch` UV map carries, per corner,
# the distance in inches from the hem (u) and from the neckline or pocket edge (v), each
# shifted so the two rows always lie at STITCH_ROWS_IN; STITCH_NONE where none is sewn.
STITCH_ROWS_IN = (0.75, 1.0)  # the twin needle's two rows, a quarter inch apart
HEM_STITCH_IN = 0.75  # a tee's turned hem: rows at the top of a 1 in hem
SLEEVE_HEM_STITCH_IN = 0.6  # a short sleeve's turned hem (0.85 in)
SEAM_STITCH_IN = 0.12  # beside a rib band's, cuff's, collar's, hood's or pocket's seam
STITCH_NONE = 99.0
STITCH_WIDTH_IN = 0.035  # a groove's half width (Gaussian sigma)
STITCH_DEPTH_M = 0.0008  # a groove's depth
STITCH_STRENGTH = 1.0


def stitch_coordinates(template):
    """A function from an atlas point (inches) to its `stitch` UV (see STITCH_ROWS_IN):
    the body and sleeves are stitched above their hem (a turned hem, or beside the rib
    band or cuff sewn there), the body below the neckline (beside the collar or hood) and
    the pocket inside its edge. Everything else, and points outside every panel (the
    collar, cuffs, band and hood), gets STITCH_NONE."""
    g = Garment(template)
    shift = STITCH_ROWS_IN[0]
    panels = {p["name"]: p for p in template["panels"]}
    rules = []  # (panel polygon, hem y or None, hem shift, edge run or None, edge shift)
    for name in ("front", "back"):
        p = panels[name]
        top = min(q[1] for q in p["polygon"])
        neck = [(x + p["center_x"], y + top) for x, y in neckline_points(p)]
        hem = SEAM_STITCH_IN if g.hem_band is not None else HEM_STITCH_IN
        rules.append((p["polygon"], p["hem_y"], shift - hem, neck, shift - SEAM_STITCH_IN))
    for name in ("left_sleeve", "right_sleeve"):
        p = panels[name]
        hem = SEAM_STITCH_IN if g.cuffs is not None else SLEEVE_HEM_STITCH_IN
        rules.append((p["polygon"], p["hem_y"], shift - hem, None, 0.0))
    if g.pocket is not None:
        p = panels[g.pocket["panel"]]
        loop = p["polygon"] + p["polygon"][:1]
        rules.append((p["polygon"], None, 0.0, loop, shift - SEAM_STITCH_IN))

    def at(x, y):
        for poly, hem_y, hem_shift, edge, edge_shift in rules:
            if inside(poly, x, y) or dist_to_loop(poly, x, y) < 0.02:
                u = STITCH_NONE if hem_y is None else (hem_y - y) + hem_shift
                v = STITCH_NONE if edge is None else _dist_to_run(edge, x, y) + edge_shift
                return (u, v)
        return (STITCH_NONE, STITCH_NONE)

    return at


def add_stitch_map(obj, template):
    """Adds the `stitch` UV map (see stitch_coordinates) to the garment object."""
    w_in = template["atlas"]["width_in"]
    h_in = template["atlas"]["height_in"]
    at = stitch_coordinates(template)
    mesh = obj.data
    atlas = mesh.uv_layers["atlas"]
    layer = mesh.uv_layers.new(name="stitch")
    known = {}
    for li in range(len(mesh.loops)):
        u, v = atlas.data[li].uv
        key = (round(u, 7), round(v, 7))
        if key not in known:
            known[key] = at(u * w_in, (1.0 - v) * h_in)
        layer.data[li].uv = known[key]


# A hoodie's drawcords: two flat cords from eyelets either side of the centre front,
# hanging down the chest, each ending in an aglet. Added after the drape (they do not
# change it), joined into the garment mesh as plain fabric in the garment's colour.
CORD_SPREAD_IN = 1.4  # each eyelet's distance from the centre front
CORD_RISE_IN = 0.2  # eyelets above the front neckline's centre
CORD_LENGTH_IN = 10.5  # eyelet to the aglet's end
CORD_RADIUS_IN = 0.15  # half the width of a flat cord
CORD_FLATNESS = 0.45  # its thickness as a fraction of its width
AGLET_LENGTH_IN = 0.9
AGLET_RADIUS_IN = 0.1
CORD_CLEARANCE_IN = 0.02  # between the cord and the fabric it lies on
EYELET_RADIUS_IN = 0.24  # the ring round each cord where it leaves the hood
EYELET_TUBE_IN = 0.05


def add_drawcords(obj, template):
    """Joins a hoodie's drawcords and eyelets into the garment object's mesh: each cord
    follows the draped front (ray cast from the camera's side), a cord's width in front of
    it, ending in a narrower, rounded aglet. The new corners' UVs are (0, 0): atlas (0, 0)
    is outside every panel (garment colour), rib v = 0 is smooth; add_stitch_map, run
    after, finds no stitch there."""
    from mathutils.bvhtree import BVHTree

    mesh = obj.data
    atlas = mesh.uv_layers["atlas"]
    w_in = template["atlas"]["width_in"]
    h_in = template["atlas"]["height_in"]
    front = next(p for p in template["panels"] if p["name"] == "front")
    cu = front["collar_point"][0] / w_in
    cv = 1.0 - front["collar_point"][1] / h_in
    best = min(range(len(mesh.loops)),
               key=lambda li: (atlas.data[li].uv[0] - cu) ** 2 + (atlas.data[li].uv[1] - cv) ** 2)
    neck = mesh.vertices[mesh.loops[best].vertex_index].co.copy()
    tree = BVHTree.FromPolygons([v.co.copy() for v in mesh.vertices],
                                [list(p.vertices) for p in mesh.polygons])
    bm = bmesh.new()
    bm.from_mesh(mesh)
    segments = 12
    for side in (-1.0, 1.0):
        path = []
        n = 40
        # The two cords hang a little differently, as real ones do: the wearer's left one
        # longer and swaying outwards, the right one inwards.
        length = CORD_LENGTH_IN + 0.2 * side
        for i in range(n + 1):
            t = i / n
            sway = 0.25 * t + (0.12 if side > 0 else -0.08) * math.sin(math.pi * t)
            x = neck.x + side * (CORD_SPREAD_IN + sway) * INCH
            z = neck.z + (CORD_RISE_IN - length * t) * INCH
            hit = tree.ray_cast(Vector((x, -1.0, z)), Vector((0.0, 1.0, 0.0)))
            y = (hit[0].y if hit[0] is not None else neck.y) - (CORD_RADIUS_IN * CORD_FLATNESS
                                                                + CORD_CLEARANCE_IN) * INCH
            path.append(Vector((x, y, z)))
        # Hanging cord: no dents where the fabric under it has a fold; it lies on the
        # fabric's outermost points, eased.
        for _ in range(6):
            path = [path[0]] + [min(path[i], (path[i - 1] + path[i + 1]) / 2, key=lambda p: p.y)
                                for i in range(1, n)] + [path[-1]]
        # The aglet narrows the cord to its tip, which is rounded off.
        tip = path[-1] + (path[-1] - path[-2]).normalized() * 0.1 * INCH
        path = path + [path[-1].lerp(tip, 0.6), tip]
        radii = []
        for i in range(n + 1):
            aglet = (n - i) / n * length < AGLET_LENGTH_IN
            radii.append(AGLET_RADIUS_IN if aglet else CORD_RADIUS_IN)
        radii += [AGLET_RADIUS_IN * 0.75, AGLET_RADIUS_IN * 0.3]
        rings = []
        for i, c in enumerate(path):
            a = path[max(0, i - 1)]
            b = path[min(len(path) - 1, i + 1)]
            tangent = (b - a).normalized()
            u = tangent.cross(Vector((1.0, 0.0, 0.0))).normalized()
            w = tangent.cross(u).normalized()
            # u points to the camera, w sideways: a flat cord lies with its width on the
            # fabric, facing the camera as the chest does (a round one's flank, facing
            # the key light, clipped to pure white on a white hoodie).
            depth = CORD_FLATNESS if radii[i] == CORD_RADIUS_IN else 1.0
            rings.append([bm.verts.new(c + (u * depth * math.cos(k * 2 * math.pi / segments)
                                            + w * math.sin(k * 2 * math.pi / segments))
                                       * radii[i] * INCH)
                          for k in range(segments)])
        for r0, r1 in zip(rings, rings[1:]):
            for k in range(segments):
                bm.faces.new((r0[k], r0[(k + 1) % segments], r1[(k + 1) % segments], r1[k]))
        bm.faces.new(rings[-1][::-1])
        # The eyelet: a flat ring round the cord's top, facing the camera.
        top = path[0]
        ring_pts = []
        for k in range(24):
            ang = 2 * math.pi * k / 24
            row = []
            for j in range(8):
                beta = 2 * math.pi * j / 8
                rr = EYELET_RADIUS_IN + EYELET_TUBE_IN * math.cos(beta)
                row.append(bm.verts.new(top + Vector((rr * math.cos(ang) * INCH,
                                                      -EYELET_TUBE_IN * math.sin(beta) * INCH,
                                                      rr * math.sin(ang) * INCH))))
            ring_pts.append(row)
        for k in range(24):
            for j in range(8):
                a0, a1 = ring_pts[k], ring_pts[(k + 1) % 24]
                bm.faces.new((a0[j], a1[j], a1[(j + 1) % 8], a0[(j + 1) % 8]))
    bm.normal_update()
    bm.to_mesh(mesh)
    bm.free()
    for poly in mesh.polygons:
        poly.use_smooth = True
    mesh.update()


def _math(nt, op, a, b=None):
    """A Math node computing `a op b`; each operand a socket or a number."""
    node = nt.nodes.new("ShaderNodeMath")
    node.operation = op
    for i, x in enumerate((a, b)):
        if x is None:
            continue
        if isinstance(x, (int, float)):
            node.inputs[i].default_value = x
        else:
            nt.links.new(x, node.inputs[i])
    return node.outputs[0]


def stitch_height(nt):
    """The grooves' depth (0 to 1) from the `stitch` UV map: a Gaussian round each row of
    STITCH_ROWS_IN in both coordinates."""
    uv = nt.nodes.new("ShaderNodeUVMap")
    uv.uv_map = "stitch"
    sep = nt.nodes.new("ShaderNodeSeparateXYZ")
    nt.links.new(uv.outputs["UV"], sep.inputs["Vector"])
    total = None
    for axis in ("X", "Y"):
        for row in STITCH_ROWS_IN:
            d = _math(nt, "DIVIDE", _math(nt, "SUBTRACT", sep.outputs[axis], row),
                      STITCH_WIDTH_IN)
            g = _math(nt, "EXPONENT", _math(nt, "MULTIPLY", _math(nt, "MULTIPLY", d, d), -0.5))
            total = g if total is None else _math(nt, "ADD", total, g)
    return total


def build_material(atlas_path=None, garment_rgb=(1.0, 1.0, 1.0), atlas_in=(45.0, 41.0),
                   rib=False):
    """The fabric: Principled BSDF with sheen and a fine weave bump.

    Base colour is the atlas texture (over the garment colour) when `atlas_path` is given,
    white otherwise (the bake). An AOV `atlas_uv` carries the atlas UV of the front face;
    back faces (the inside) get (0, 0), which is outside every panel.

    The weave's scale is set per atlas inch (the classic-tee's 45 x 41 in atlas gives it
    its scale), so it stays the same on the fabric whatever a pack's atlas size. With
    `rib`, the mesh's `rib` UV map (u counts wales, v = 1 on rib fabric) adds the knit rib
    of the collar, cuffs and hem band as a second bump. The mesh's `stitch` UV map
    (add_stitch_map) adds the construction stitching's grooves (see STITCH_ROWS_IN).
    """
    mat = bpy.data.materials.new("fabric")
    mat.use_nodes = True
    nt = mat.node_tree
    for n in list(nt.nodes):
        nt.nodes.remove(n)
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    bsdf = nt.nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Roughness"].default_value = 0.82
    # Cotton jersey is matte: F0 = 0.08 x 0.09 = 0.7%. The frontal key's reflection then
    # adds about 0.003 (linear) to the front, little enough that a black tee can still render
    # within Delta E 2 of its swatch once the renderer calibrates the albedo (0.22 added
    # 0.008, which alone put #111111 at Delta E 3.8).
    bsdf.inputs["Specular"].default_value = 0.09
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
    weave_uv = uv.outputs["UV"]
    if tuple(atlas_in) != (45.0, 41.0):
        scale = nt.nodes.new("ShaderNodeVectorMath")
        scale.operation = "MULTIPLY"
        scale.inputs[1].default_value = (atlas_in[0] / 45.0, atlas_in[1] / 41.0, 1.0)
        nt.links.new(uv.outputs["UV"], scale.inputs[0])
        weave_uv = scale.outputs["Vector"]
    for n in (wave_u, wave_v, noise):
        nt.links.new(weave_uv, n.inputs["Vector"])
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
    if rib:
        # Rib wales: a rounded ridge per wale, only where v = 1 (rib fabric).
        rib_uv = nt.nodes.new("ShaderNodeUVMap")
        rib_uv.uv_map = "rib"
        sep = nt.nodes.new("ShaderNodeSeparateXYZ")
        nt.links.new(rib_uv.outputs["UV"], sep.inputs["Vector"])
        phase = nt.nodes.new("ShaderNodeMath")
        phase.operation = "MULTIPLY"
        phase.inputs[1].default_value = 2.0 * math.pi
        nt.links.new(sep.outputs["X"], phase.inputs[0])
        wale = nt.nodes.new("ShaderNodeMath")
        wale.operation = "SINE"
        nt.links.new(phase.outputs[0], wale.inputs[0])
        mask = nt.nodes.new("ShaderNodeMath")
        mask.operation = "MULTIPLY"
        nt.links.new(wale.outputs[0], mask.inputs[0])
        nt.links.new(sep.outputs["Y"], mask.inputs[1])
        rib_bump = nt.nodes.new("ShaderNodeBump")
        rib_bump.inputs["Strength"].default_value = 0.5
        rib_bump.inputs["Distance"].default_value = 0.0008
        nt.links.new(mask.outputs[0], rib_bump.inputs["Height"])
        nt.links.new(bump.outputs["Normal"], rib_bump.inputs["Normal"])
        normal = rib_bump.outputs["Normal"]
    else:
        normal = bump.outputs["Normal"]
    grooves = nt.nodes.new("ShaderNodeBump")
    grooves.invert = True  # the rows sink into the fabric
    grooves.inputs["Strength"].default_value = STITCH_STRENGTH
    grooves.inputs["Distance"].default_value = STITCH_DEPTH_M
    nt.links.new(stitch_height(nt), grooves.inputs["Height"])
    nt.links.new(normal, grooves.inputs["Normal"])
    normal = grooves.outputs["Normal"]
    nt.links.new(normal, bsdf.inputs["Normal"])

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


def build_scene(template_path=DEFAULT_TEMPLATE, atlas_path=None, garment_rgb=(1, 1, 1),
                stored_drape=None, store_drape_to=None):
    """Clears the file and builds garment, material, lights, world and camera.
    `stored_drape`, `store_drape_to`: see cached_drape."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    template = load_template(template_path)
    garment = build_mesh(template, stored_drape=stored_drape, store_drape_to=store_drape_to)
    atlas_in = (template["atlas"]["width_in"], template["atlas"]["height_in"])
    rib = "rib" in garment.data.uv_layers
    if Garment(template).hood is not None:
        add_drawcords(garment, template)
    add_stitch_map(garment, template)
    garment.data.materials.append(build_material(atlas_path, garment_rgb, atlas_in, rib))

    target = (0.0, 0.0, CAMERA_TARGET_Z)
    # Soft studio, lit as catalogue photos are: a big, nearly frontal key from a little
    # left of and above the camera, a fill from the right, a rim from behind, a weak top
    # light and the world as ambient. The light is even across the front and exposed so
    # a white fabric's front reflects about 0.91 (median) and stays under 1 on 98% of it
    # (it used to reflect 1.15, with 78% of a white front still clipped to pure white).
    add_area_light("key", (-0.6, -2.6, 1.0), target, 5.0, 150.0 * LIGHT_EXPOSURE)
    add_area_light("fill", (2.2, -1.4, 0.8), target, 2.5, 30.0 * LIGHT_EXPOSURE)
    add_area_light("rim", (0.6, 2.2, 2.0), target, 1.5, 72.0 * LIGHT_EXPOSURE)
    add_area_light("top", (0.0, -0.3, 2.6), target, 2.0, 8.0 * LIGHT_EXPOSURE)

    world = bpy.data.worlds.new("studio")
    world.use_nodes = True
    bg = world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (*BACKGROUND, 1.0)
    bg.inputs["Strength"].default_value = 0.24 * LIGHT_EXPOSURE
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
    # Few samples: clamp fireflies as the bake does, so live renders and the bake agree
    # (without it a live white garment at 64 samples is grainy: SSIM 0.88 against the bake).
    scene.cycles.sample_clamp_direct = 4.0
    scene.cycles.sample_clamp_indirect = 1.0
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
    known = {"template", "save", "preview", "atlas", "view", "size", "samples", "color", "turn"}
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
        rotation, elevation = STILLS[view]
        if "turn" in opts:  # a turntable angle instead (90: the wearer's left side)
            rotation, elevation = float(opts["turn"]), TURNTABLE_ELEVATION
        set_view(scene, rotation, elevation)
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
