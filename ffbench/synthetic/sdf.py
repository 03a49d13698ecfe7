"""Signed distances of 2D shapes on pixel grids, and the anti-aliased coverage they give.

Every function takes coordinate grids `x`, `y` (any broadcastable shapes, usually (F, H, W) or
(F, 1, 1)-shaped parameters against (1, H, W) grids) in figure units (1.0 = frame height) and returns
the signed distance to the shape boundary: negative inside, positive outside. `coverage` turns a
distance into the fraction of a pixel the shape covers, which anti-aliases edges without supersampling.
"""

from __future__ import annotations

import numpy as np


def coverage(dist: np.ndarray, pixel: float) -> np.ndarray:
    """Fraction of a pixel of side `pixel` covered by the inside of a shape whose distance is `dist`.

    A linear ramp one pixel wide centred on the boundary: exact for straight edges crossing a pixel
    perpendicularly, and within a few percent for the gently curved edges drawn here.
    """
    return np.clip(0.5 - dist / pixel, 0.0, 1.0)


def ellipse(x: np.ndarray, y: np.ndarray, cx, cy, rx, ry) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse (first-order, accurate near the boundary)."""
    px = (x - cx) / rx
    py = (y - cy) / ry
    k0 = np.sqrt(px * px + py * py)
    # Gradient length of the implicit function k0 - 1: dividing by it turns level sets into distances.
    k1 = np.sqrt(px * px / (rx * rx) + py * py / (ry * ry))
    return (k0 - 1.0) * k0 / np.maximum(k1, 1e-6)


def capsule(x: np.ndarray, y: np.ndarray, ax, ay, bx, by, ra, rb) -> np.ndarray:
    """Signed distance to a tapered capsule: segment a-b swept by a radius going from `ra` to `rb`.

    The taper uses the radius interpolated at the closest point, which is exact for equal radii and close
    enough for limbs whose radii differ by a small fraction of their length.
    """
    pax = x - ax
    pay = y - ay
    bax = bx - ax
    bay = by - ay
    h = np.clip((pax * bax + pay * bay) / np.maximum(bax * bax + bay * bay, 1e-12), 0.0, 1.0)
    dx = pax - bax * h
    dy = pay - bay * h
    return np.sqrt(dx * dx + dy * dy) - (ra + (rb - ra) * h)


def trapezoid(x: np.ndarray, y: np.ndarray, x0, y0, w0, x1, y1, w1) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance to a trapezoid with horizontal top (y0) and bottom (y1) edges, y0 < y1.

    The top edge is centred at x0 with half-width w0, the bottom edge at x1 with half-width w1, so the
    axis may lean. Returns (distance, rel), where rel = horizontal offset from the axis divided by the
    half-width at that row (-1 at the left edge, +1 at the right): the coordinate used to wrap a texture
    around the body.
    """
    s = np.clip((y - y0) / (y1 - y0), 0.0, 1.0)
    centre = x0 + (x1 - x0) * s
    half = w0 + (w1 - w0) * s
    offset = x - centre
    # Side edges are slanted: scale the horizontal excess by the cosine of the slant to get a distance.
    slope = (w1 - w0) / (y1 - y0)
    side = (np.abs(offset) - half) / np.sqrt(1.0 + slope * slope)
    cap = np.maximum(y0 - y, y - y1)
    outside = np.sqrt(np.maximum(side, 0.0) ** 2 + np.maximum(cap, 0.0) ** 2)
    inside = np.minimum(np.maximum(side, cap), 0.0)
    return outside + inside, offset / np.maximum(half, 1e-6)


def smoothstep(edge0: float, edge1: float, v: np.ndarray) -> np.ndarray:
    """Hermite ramp from 0 (v <= edge0) to 1 (v >= edge1)."""
    t = np.clip((v - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
