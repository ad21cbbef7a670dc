#!/usr/bin/env python3
"""Writes the pattern (template.json) of the built-in long-sleeve-tee and hoodie packs.

    python3 scripts/templates/make_patterns.py            # rewrites both template.json

The polygons are derived from classic-tee's (adult M crew-neck tee): the long-sleeve tee
keeps its body and gets long sleeves with cuffs; the hoodie's body is scaled to adult M
hoodie measurements (22 in chest width, 28 in length with its 2.75 in hem band, 34.5 in
sleeve from centre back with its 2.75 in cuffs) and gets a hood (two side panels) and a
kangaroo pocket. The shapes of the 3D garments are in each pack's `garment` object; what
every key means is in docs/template-packs.md ("Garment parameters"). The bakes
(`baked/`) are made by scripts/blender/bake.sh from the written template.json.
"""
import json
import math
import os

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CLASSIC = os.path.join(ROOT, "assets", "templates", "classic-tee", "template.json")

# classic-tee's armhole, relative to the front panel's centre and top: shoulder point to
# underarm (the right side; the left mirrors it).
ARMHOLE = [(9.0, 1.75), (8.8174, 2.8192), (8.7203, 3.9383), (8.71, 5.0679), (8.7875, 6.1687),
           (8.9541, 7.2017), (9.2109, 8.1273), (9.5592, 8.9065), (10.0, 9.5)]


def r4(v):
    return round(v, 4)


def neckline(cx, top, half_width, drop, n=10):
    """Left neck point to right neck point, an elliptical curve `drop` deep."""
    pts = []
    for i in range(n + 1):
        a = math.pi * i / n
        pts.append((cx - half_width * math.cos(a), top + drop * math.sin(a)))
    return pts


def body_panel(name, cx, top, hem, neck_drop, half_width, shoulder_x, underarm_y,
               shoulder_y=1.75):
    """A body panel: neckline, right shoulder and armhole, side, hem, left side, left armhole."""
    # Map classic's armhole (shoulder point 9 in, underarm 10 in from the centre; y 1.75
    # to 9.5 in below the top) onto this panel's.
    arm = []
    for x, y in ARMHOLE:
        t = (y - 1.75) / (9.5 - 1.75)
        arm.append((shoulder_x + (x - 9.0) * (half_width - shoulder_x),
                    shoulder_y + t * (underarm_y - shoulder_y)))
    right = [(cx + x, top + y) for x, y in arm]
    left = [(cx - x, top + y) for x, y in reversed(arm)]
    poly = neckline(cx, top, 3.75, neck_drop)
    poly += right + [(cx + half_width, hem), (cx - half_width, hem)] + left
    return {
        "name": name,
        "polygon": [[r4(x), r4(y)] for x, y in poly],
        "center_x": cx,
        "collar_point": [cx, r4(top + neck_drop)],
        "hem_y": hem,
    }


def sleeve_panel(name, cx, top, cap_half, cap_h, hem, open_half):
    cap = []
    for i in range(13):
        x = -cap_half + 2 * cap_half * i / 12
        u = x / cap_half
        cap.append((cx + x, top + cap_h * u * u))
    poly = cap + [(cx + open_half, hem), (cx - open_half, hem)]
    return {
        "name": name,
        "polygon": [[r4(x), r4(y)] for x, y in poly],
        "center_x": cx,
        "collar_point": [cx, top],
        "hem_y": hem,
    }


def hood_panel(name, x0, x1, top, bottom):
    """A hood side, a rectangle: bottom edge = neckline seam, front edge = face opening,
    back and top edges = the centre seam (back of the head, then over the crown). The 3D
    builder rounds the crown; the flat outline stays a rectangle so the two sides' seam
    edges meet exactly."""
    cx = (x0 + x1) / 2
    return {
        "name": name,
        "polygon": [[x0, bottom], [x1, bottom], [x1, top], [x0, top]],
        "center_x": cx,
        "collar_point": [cx, top],
        "hem_y": bottom,
    }


def pocket_panel(cx, top, top_half, bottom_half, opening_drop, height):
    pts = [(cx - top_half, top), (cx + top_half, top), (cx + bottom_half, top + opening_drop),
           (cx + bottom_half, top + height), (cx - bottom_half, top + height),
           (cx - bottom_half, top + opening_drop)]
    return {
        "name": "pocket",
        "polygon": [[r4(x), r4(y)] for x, y in pts],
        "center_x": cx,
        "collar_point": [cx, top],
        "hem_y": top + height,
    }


def preset(panel, anchor, offset, w, h, align):
    return {"panel": panel, "anchor": anchor, "offset_in": offset, "width_in": w,
            "height_in": h, "align": align}


def long_sleeve_tee(classic):
    # classic-tee's front and back (drawn by the same function, so both sides carry their
    # underarm point and the side seams meet).
    panels = [
        body_panel("front", 11.0, 1.0, 30.0, 3.5, 10.0, 9.0, 9.5),
        body_panel("back", 34.0, 1.0, 30.0, 0.75, 10.0, 9.0, 9.5),
    ]
    for mine, theirs in zip(panels, classic["panels"]):
        assert mine["name"] == theirs["name"]
        assert all(abs(a - b) < 1e-3 for p, q in zip(mine["polygon"], theirs["polygon"])
                   for a, b in zip(p, q)) and len(mine["polygon"]) == len(theirs["polygon"]), \
            f"the {mine['name']} panel no longer matches classic-tee's"
    # Sleeve: classic's cap (15 in round, 3.5 in high) and 23 in from cap top to the cuff
    # seam, narrowing to 9.5 in round; the 2.5 in cuff makes 34.5 in from centre back.
    panels.append(sleeve_panel("left_sleeve", 9.5, 31.5, 7.5, 3.5, 54.5, 4.75))
    panels.append(sleeve_panel("right_sleeve", 32.5, 31.5, 7.5, 3.5, 54.5, 4.75))
    return {
        "format_version": 1,
        "id": "long-sleeve-tee",
        "name": "Long-sleeve crew-neck tee, adult M",
        "units": "in",
        "atlas": {"width_in": 45.0, "height_in": 56.0, "pixels_per_inch": 40},
        "panels": panels,
        "presets": {
            "chest-large": preset("front", "collar", 3.0, 12.0, 12.0, "top"),
            "dead-center-medium": preset("front", "torso_middle", 0.0, 10.0, 10.0, "center"),
            "back-small": preset("back", "collar", 2.0, 4.0, 4.0, "top"),
        },
        "garment": {
            "physical_wrap": True,
            "chest_depth_in": 3.9,
            "hem_depth_in": 3.6,
            "sleeve_drop_deg": 74.0,
            "sleeve_length_in": 20.5,
            "sleeve_open_r_in": 1.6,
            "sleeve_open_lift_in": 0.3,
            "sleeve_fullness_in": 0.45,
            "rib_texture": True,
            "cuffs": {"length_in": 2.5, "radius_in": 1.45},
        },
    }


def hoodie():
    top, hem = 1.0, 26.25  # 25.25 in of body above the 2.75 in hem band: 28 in long
    panels = [
        body_panel("front", 12.0, top, hem, 3.5, 11.0, 9.75, 10.0, 2.25),
        body_panel("back", 36.0, top, hem, 0.75, 11.0, 9.75, 10.0, 2.25),
        sleeve_panel("left_sleeve", 9.5, 28.0, 8.5, 4.0, 50.0, 5.0),
        sleeve_panel("right_sleeve", 29.0, 28.0, 8.5, 4.0, 50.0, 5.0),
        hood_panel("hood_left", 38.25, 47.75, 28.0, 40.5),
        hood_panel("hood_right", 38.25, 47.75, 42.0, 54.5),
        pocket_panel(24.0, 51.5, 5.0, 7.0, 5.0, 7.5),
    ]
    return {
        "format_version": 1,
        "id": "hoodie",
        "name": "Pullover hoodie, adult M",
        "units": "in",
        "atlas": {"width_in": 48.0, "height_in": 60.0, "pixels_per_inch": 40},
        "panels": panels,
        "presets": {
            # Above the pocket (its top is 14.25 in below the front collar point).
            "chest-large": preset("front", "collar", 2.5, 12.0, 10.0, "top"),
            "dead-center-medium": preset("front", "collar", 3.125, 8.0, 8.0, "center"),
            "back-small": preset("back", "collar", 2.0, 4.0, 4.0, "top"),
        },
        "garment": {
            "body_length_in": 28.0,
            "lift_in": -1.5,
            "physical_wrap": True,
            "chest_depth_in": 4.3,
            "hem_depth_in": 4.1,
            "fold_radius_in": 2.9,
            "armhole_open_in": 2.1,
            "hem_flare_in": 0.0,
            "waist_in": 0.1,
            "hem_ripple_in": 0.1,
            "drag_fold_in": 0.25,
            "sleeve_drop_deg": 74.0,
            "sleeve_length_in": 19.5,
            "sleeve_open_r_in": 1.7,
            "sleeve_open_lift_in": 0.3,
            "sleeve_fullness_in": 0.55,
            "collar": "none",
            "rib_texture": True,
            "cuffs": {"length_in": 2.75, "radius_in": 1.45},
            "hem_band": {"height_in": 2.75, "taper": 0.92},
            "hood": {"panels": ["hood_left", "hood_right"], "rise_in": 5.0, "lean_in": 2.0,
                     "depth_in": 5.0, "opening_half_width_in": 3.2, "bulge_in": 1.6},
            "pocket": {"panel": "pocket", "top_in": 14.25, "standoff_in": 0.06, "puff_in": 0.3},
        },
    }


def main():
    with open(CLASSIC) as f:
        classic = json.load(f)
    for pack in (long_sleeve_tee(classic), hoodie()):
        d = os.path.join(ROOT, "assets", "templates", pack["id"])
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "template.json"), "w") as f:
            json.dump(pack, f, indent=2)
            f.write("\n")
        print("wrote", os.path.join(d, "template.json"))


if __name__ == "__main__":
    main()
