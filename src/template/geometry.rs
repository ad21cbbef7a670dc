//! Small planar geometry on the pattern: polygons and rectangles in atlas inches.

/// Tolerance for "on the boundary", in inches (a thousandth of an inch).
pub(crate) const EPS: f64 = 1e-3;

/// Twice the signed area of a polygon (shoelace formula); positive when the points run
/// clockwise in the atlas's y-down coordinates.
pub(crate) fn signed_area(poly: &[[f64; 2]]) -> f64 {
    let n = poly.len();
    (0..n)
        .map(|i| {
            let [x0, y0] = poly[i];
            let [x1, y1] = poly[(i + 1) % n];
            x0 * y1 - x1 * y0
        })
        .sum::<f64>()
        / 2.0
}

fn dist_to_segment(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    };
    let (cx, cy) = (a[0] + t * dx, a[1] + t * dy);
    ((p[0] - cx).powi(2) + (p[1] - cy).powi(2)).sqrt()
}

/// Whether `p` lies on the polygon's boundary (within [`EPS`]).
pub(crate) fn on_boundary(p: [f64; 2], poly: &[[f64; 2]]) -> bool {
    let n = poly.len();
    (0..n).any(|i| dist_to_segment(p, poly[i], poly[(i + 1) % n]) <= EPS)
}

/// Whether `p` lies strictly inside the polygon (even-odd rule).
pub(crate) fn strictly_inside(p: [f64; 2], poly: &[[f64; 2]]) -> bool {
    let n = poly.len();
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let [xi, yi] = poly[i];
        let [xj, yj] = poly[j];
        if (yi > p[1]) != (yj > p[1]) {
            let x = xj + (p[1] - yj) * (xi - xj) / (yi - yj);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Whether `p` is inside the polygon or on its boundary.
pub(crate) fn inside_or_on(p: [f64; 2], poly: &[[f64; 2]]) -> bool {
    on_boundary(p, poly) || strictly_inside(p, poly)
}

fn cross(o: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Whether the open segments `a-b` and `c-d` cross at a single interior point.
pub(crate) fn segments_cross(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let d1 = cross(c, d, a);
    let d2 = cross(c, d, b);
    let d3 = cross(a, b, c);
    let d4 = cross(a, b, d);
    let tiny = 1e-9;
    ((d1 > tiny && d2 < -tiny) || (d1 < -tiny && d2 > tiny))
        && ((d3 > tiny && d4 < -tiny) || (d3 < -tiny && d4 > tiny))
}

/// Whether two non-adjacent edges of the polygon cross each other.
pub(crate) fn self_intersects(poly: &[[f64; 2]]) -> bool {
    let n = poly.len();
    for i in 0..n {
        for j in i + 1..n {
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            if adjacent {
                continue;
            }
            if segments_cross(poly[i], poly[(i + 1) % n], poly[j], poly[(j + 1) % n]) {
                return true;
            }
        }
    }
    false
}

/// An axis-aligned rectangle in atlas inches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub(crate) fn corners(&self) -> [[f64; 2]; 4] {
        [
            [self.x, self.y],
            [self.x + self.w, self.y],
            [self.x + self.w, self.y + self.h],
            [self.x, self.y + self.h],
        ]
    }

    fn strictly_contains(&self, p: [f64; 2]) -> bool {
        p[0] > self.x + EPS
            && p[0] < self.x + self.w - EPS
            && p[1] > self.y + EPS
            && p[1] < self.y + self.h - EPS
    }
}

/// Whether the rectangle lies entirely inside the (possibly concave) polygon: every
/// corner inside or on it, no polygon vertex poking into the rectangle, and no polygon
/// edge crossing a rectangle edge.
pub(crate) fn rect_inside(rect: Rect, poly: &[[f64; 2]]) -> bool {
    let corners = rect.corners();
    if !corners.iter().all(|&c| inside_or_on(c, poly)) {
        return false;
    }
    if poly.iter().any(|&p| rect.strictly_contains(p)) {
        return false;
    }
    let n = poly.len();
    for i in 0..n {
        for k in 0..4 {
            if segments_cross(poly[i], poly[(i + 1) % n], corners[k], corners[(k + 1) % 4]) {
                return false;
            }
        }
    }
    // A rectangle whose centre is outside can still have all corners on the boundary.
    let centre = [rect.x + rect.w / 2.0, rect.y + rect.h / 2.0];
    inside_or_on(centre, poly)
}

/// The bounding box of a polygon as (min_x, min_y, max_x, max_y).
pub(crate) fn bounds(poly: &[[f64; 2]]) -> (f64, f64, f64, f64) {
    poly.iter().fold(
        (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), p| (a.min(p[0]), b.min(p[1]), c.max(p[0]), d.max(p[1])),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // A "U" shape: a 10 x 10 square with a 4 x 6 notch cut from the top middle.
    const U: [[f64; 2]; 8] = [
        [0.0, 0.0],
        [3.0, 0.0],
        [3.0, 6.0],
        [7.0, 6.0],
        [7.0, 0.0],
        [10.0, 0.0],
        [10.0, 10.0],
        [0.0, 10.0],
    ];

    #[test]
    fn rectangles_inside_concave_polygons() {
        let r = |x, y, w, h| Rect { x, y, w, h };
        assert!(rect_inside(r(0.0, 6.0, 10.0, 4.0), &U));
        assert!(rect_inside(r(0.5, 0.5, 2.0, 9.0), &U));
        // straddles the notch: corners inside, edge crosses
        assert!(!rect_inside(r(1.0, 5.0, 8.0, 2.0), &U));
        // spans the notch from leg to leg: all corners inside the legs
        assert!(!rect_inside(r(1.0, 1.0, 8.0, 2.0), &U));
        assert!(!rect_inside(r(-1.0, 7.0, 2.0, 2.0), &U));
    }

    #[test]
    fn orientation_and_self_intersection() {
        assert!(signed_area(&U) > 0.0);
        assert!(!self_intersects(&U));
        let bow = [[0.0, 0.0], [4.0, 4.0], [4.0, 0.0], [0.0, 4.0]];
        assert!(self_intersects(&bow));
        assert_eq!(bounds(&U), (0.0, 0.0, 10.0, 10.0));
    }
}
