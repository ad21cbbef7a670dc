#!/usr/bin/env python3
"""Writes assets/templates/classic-tee/template.json: the built-in garment pattern.

The pattern is a standard adult size-M crew-neck tee, drafted as a sewing pattern would be:
front and back body panels and two set-in sleeves, as polygons in inches. Coordinates are
atlas inches: x to the right, y downwards, origin at the atlas's top-left corner, so an atlas
pixel is (x * pixels_per_inch, y * pixels_per_inch). Measurements (inches):

  body width (pit to pit) 20, body length from high point shoulder 29,
  neck width 7.5, front neck drop 3.5, back neck drop 0.75,
  shoulder width 18 (shoulder slope 1.75), armhole depth 9.5,
  sleeve: cap height 3.5, bicep 15, length 8, opening 13.

The manifest also defines the placement presets physically, relative to the panel
landmarks (`presets`): `anchor` is `collar` (the area's top edge is `offset_in` below the
panel's collar point) or `torso_middle` (the area's centre is `offset_in` below the point
halfway between collar point and hem); areas are centred on the panel's centre line, and
`align` says where the fitted design sits inside its area.

Run it again after changing a measurement; the output is deterministic.
"""
import json
import math
import os

PPI = 40
ATLAS_IN = (45.0, 41.0)

HALF_BODY = 10.0
LENGTH = 29.0
HALF_NECK = 3.75
FRONT_DROP = 3.5
BACK_DROP = 0.75
HALF_SHOULDER = 9.0
SHOULDER_SLOPE = 1.75
ARMHOLE_DEPTH = 9.5


# Placement presets, physically, relative to the landmarks (see the module docstring).
PRESETS = {
    "chest-large": {
        "panel": "front", "anchor": "collar", "offset_in": 3.0,
        "width_in": 12.0, "height_in": 12.0, "align": "top",
    },
    "dead-center-medium": {
        "panel": "front", "anchor": "torso_middle", "offset_in": 0.0,
        "width_in": 10.0, "height_in": 10.0, "align": "center",
    },
    "back-small": {
        "panel": "back", "anchor": "collar", "offset_in": 2.0,
        "width_in": 4.0, "height_in": 4.0, "align": "top",
    },
}


def r(v):
    return round(v, 4)


def neckline(drop, steps=10):
    """Points of the neckline from the left neck point to the right one (quarter ellipses)."""
    pts = []
    for i in range(steps + 1):
        a = math.pi * i / steps  # 0..pi
        x = -HALF_NECK * math.cos(a)
        y = drop * math.sin(a)
        pts.append((x, y))
    return pts


def armhole(side, steps=8):
    """Armhole curve from the shoulder point down to the underarm, on `side` (+1 right)."""
    # A cubic Bezier that dips inwards (the armhole scoop) and meets the side seam.
    p0 = (side * HALF_SHOULDER, SHOULDER_SLOPE)
    p1 = (side * (HALF_SHOULDER - 0.6), 4.5)
    p2 = (side * (HALF_SHOULDER - 0.3), 8.2)
    p3 = (side * HALF_BODY, ARMHOLE_DEPTH)
    pts = []
    for i in range(1, steps + 1):
        t = i / steps
        u = 1 - t
        x = u**3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * p3[0]
        y = u**3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * p3[1]
        pts.append((x, y))
    return pts


def body_panel(drop):
    """A body panel, clockwise from the left neck point, centred on x = 0, top at y = 0."""
    pts = neckline(drop)  # left neck point -> centre -> right neck point
    pts.append((HALF_SHOULDER, SHOULDER_SLOPE))
    pts += armhole(+1)
    pts.append((HALF_BODY, LENGTH))
    pts.append((-HALF_BODY, LENGTH))
    left = armhole(-1)
    left.reverse()  # underarm -> shoulder
    pts += left[1:]
    pts.append((-HALF_SHOULDER, SHOULDER_SLOPE))
    return pts


def sleeve(steps=12):
    """A set-in sleeve, clockwise from the cap's left end; cap top at (0, 0)."""
    half_bicep, cap, length, half_open = 7.5, 3.5, 8.0, 6.5
    pts = []
    for i in range(steps + 1):
        t = i / steps
        x = -half_bicep + 2 * half_bicep * t
        # a bell-shaped cap: 0 at the top centre, `cap` at both ends
        y = cap * (x / half_bicep) ** 2  # a parabolic cap, highest at the centre
        pts.append((x, y))
    pts.append((half_open, length))
    pts.append((-half_open, length))
    return pts


def place(pts, dx, dy):
    return [[r(x + dx), r(y + dy)] for x, y in pts]


def main():
    front_origin = (11.0, 1.0)
    back_origin = (34.0, 1.0)
    left_sleeve_origin = (9.5, 31.5)
    right_sleeve_origin = (32.5, 31.5)
    panels = [
        {
            "name": "front",
            "polygon": place(body_panel(FRONT_DROP), *front_origin),
            "center_x": front_origin[0],
            "collar_point": [front_origin[0], r(front_origin[1] + FRONT_DROP)],
            "hem_y": front_origin[1] + LENGTH,
        },
        {
            "name": "back",
            "polygon": place(body_panel(BACK_DROP), *back_origin),
            "center_x": back_origin[0],
            "collar_point": [back_origin[0], r(back_origin[1] + BACK_DROP)],
            "hem_y": back_origin[1] + LENGTH,
        },
        {
            "name": "left_sleeve",
            "polygon": place(sleeve(), *left_sleeve_origin),
            "center_x": left_sleeve_origin[0],
            "collar_point": [left_sleeve_origin[0], left_sleeve_origin[1]],
            "hem_y": left_sleeve_origin[1] + 8.0,
        },
        {
            "name": "right_sleeve",
            "polygon": place(sleeve(), *right_sleeve_origin),
            "center_x": right_sleeve_origin[0],
            "collar_point": [right_sleeve_origin[0], right_sleeve_origin[1]],
            "hem_y": right_sleeve_origin[1] + 8.0,
        },
    ]
    manifest = {
        "format_version": 1,
        "id": "classic-tee",
        "name": "Classic crew-neck tee, adult M",
        "units": "in",
        "atlas": {
            "width_in": ATLAS_IN[0],
            "height_in": ATLAS_IN[1],
            "pixels_per_inch": PPI,
        },
        "panels": panels,
        "presets": PRESETS,
    }
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "..", "..", "assets", "templates", "classic-tee", "template.json")
    with open(out, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
