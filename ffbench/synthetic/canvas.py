"""A batch of frames being painted, and the pixel windows that keep each shape's work local.

Body parts are small next to the frame, so each one is evaluated only inside a `Region`: the pixels
that a box in body units can reach in any frame of the batch. Drawing is then proportional to the
size of the part rather than of the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FOOT_Y = 0.94  # soles, in body units from the top of the frame; the figure scales about this line


@dataclass(frozen=True)
class Region:
    rows: slice
    cols: slice
    xb: np.ndarray  # (n, h, w) body-unit x of each pixel of the window
    yb: np.ndarray  # (1, h, 1) body-unit y


def col(a) -> np.ndarray:
    """Per-frame parameters (n,) as (n, 1, 1) float32 so they broadcast against (n, h, w) grids."""
    return np.asarray(a, dtype=np.float32).reshape(-1, 1, 1)


class Canvas:
    """n frames of H x W pixels plus the map from pixels to body units.

    Pixel (i, j) has screen coordinates Y = (i + 0.5) / H, X = (j + 0.5 - W / 2) / H (1.0 = frame
    height). Body units undo the figure's scale about the feet, its sideways shift and its sway:
    yb = FOOT_Y - (FOOT_Y - Y) / scale, xb = (X - shift) / scale - tilt * (FOOT_Y - yb).
    """

    def __init__(self, img: np.ndarray, scale: float, shift: np.ndarray, tilt: np.ndarray):
        self.img = img  # (n, H, W, 3) float32, painted in place
        self.n, self.height, self.width = img.shape[:3]
        self.scale = float(scale)
        self.shift = np.asarray(shift, dtype=np.float32)
        self.tilt = np.asarray(tilt, dtype=np.float32)
        self.pixel = 1.0 / (self.height * self.scale)  # one pixel in body units
        self.ys = ((np.arange(self.height, dtype=np.float32) + 0.5) / self.height)
        self.xs = ((np.arange(self.width, dtype=np.float32) + 0.5 - self.width / 2) / self.height)

    def region(self, x0, x1, y0: float, y1: float) -> Region:
        """The window covering body box [x0, x1] x [y0, y1] in every frame (x0, x1 scalars or per frame)."""
        h, w, s = self.height, self.width, self.scale
        top = FOOT_Y - (FOOT_Y - float(y0)) * s
        bottom = FOOT_Y - (FOOT_Y - float(y1)) * s
        r0 = max(int(np.floor(top * h - 0.5)) - 1, 0)
        r1 = min(int(np.ceil(bottom * h - 0.5)) + 2, h)
        edges = [np.ravel(np.asarray(x, dtype=np.float32)) for x in (x0, x1)]  # (1,) or (n,) each
        screen = [self.shift + s * (x + self.tilt * (FOOT_Y - yy)) for x in edges for yy in (y0, y1)]
        lo, hi = min(float(v.min()) for v in screen), max(float(v.max()) for v in screen)
        c0 = max(int(np.floor(lo * h + w / 2 - 0.5)) - 1, 0)
        c1 = min(int(np.ceil(hi * h + w / 2 - 0.5)) + 2, w)
        r1, c1 = max(r1, r0), max(c1, c0)
        rows, cols = slice(r0, r1), slice(c0, c1)
        yb = (FOOT_Y - (FOOT_Y - self.ys[rows]) / s)[None, :, None]
        xb = (self.xs[cols][None, None, :] - col(self.shift)) / s - col(self.tilt) * (FOOT_Y - yb)
        return Region(rows=rows, cols=cols, xb=xb, yb=yb)

    def paint(self, region: Region, alpha: np.ndarray, colour) -> None:
        """Blend `colour` (RGB, or (n, h, w, 3)) over the window with opacity `alpha` (n, h, w)."""
        colour = np.asarray(colour, dtype=np.float32)
        view = self.img[:, region.rows, region.cols]
        if view.size == 0:
            return
        # Limbs switch between the layers in front of and behind the body, so many frames of a layer
        # have nothing to paint: skip them.
        active = np.broadcast_to(alpha, view.shape[:3]).reshape(self.n, -1).max(axis=1) > 0
        if not active.any():
            return
        if active.all():
            blend = colour - view
            blend *= alpha[..., None]
            view += blend
            return
        idx = np.nonzero(active)[0]
        part = view[idx]
        if colour.ndim == 4:
            colour = colour[idx]
        blend = colour - part
        blend *= np.broadcast_to(alpha, view.shape[:3])[idx][..., None]
        part += blend
        view[idx] = part
