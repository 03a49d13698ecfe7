"""Dress fabrics: plain, stripes, dots and checks, drawn in body coordinates so they wrap as the model turns.

A fabric is evaluated at body angle `psi` (radians around the body's vertical axis, 0 = the front) and
height `v` (figure units, 1.0 = frame height). Because the pattern is fixed to `psi` rather than to the
screen, stripes and dots slide across the dress and foreshorten at its edges while the figure turns.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

PATTERN_KINDS = ("plain", "stripes", "dots", "checks")
STRIPE_DIRECTIONS = ("horizontal", "vertical", "diagonal")


@dataclass(frozen=True)
class Fabric:
    kind: str  # one of PATTERN_KINDS
    base: tuple[float, float, float]  # RGB in [0, 1]
    accent: tuple[float, float, float]  # RGB of the stripes / dots / alternate checks
    repeats: int  # pattern periods around the body (an integer so the pattern closes at the back)
    period: float  # vertical period in figure units
    direction: str  # stripes only: one of STRIPE_DIRECTIONS
    duty: float  # stripes: threshold on the sine in (-1, 1); dots: radius as a fraction of the cell


def hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(h % 1.0, s, v)


def sample_fabric(rng: np.random.Generator) -> Fabric:
    """Draw a fabric: kind uniformly from PATTERN_KINDS, a saturated base and a contrasting accent."""
    kind = PATTERN_KINDS[rng.integers(len(PATTERN_KINDS))]
    hue = rng.random()
    base = hsv(hue, rng.uniform(0.35, 0.9), rng.uniform(0.3, 0.9))
    accent_style = rng.integers(3)
    if accent_style == 0:  # white or near-white print
        accent = hsv(hue, rng.uniform(0.0, 0.1), rng.uniform(0.9, 1.0))
    elif accent_style == 1:  # dark print
        accent = hsv(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.2))
    else:  # a second hue, far around the wheel
        accent = hsv(hue + rng.uniform(0.3, 0.7), rng.uniform(0.4, 0.9), rng.uniform(0.5, 1.0))
    return Fabric(
        kind=kind,
        base=base,
        accent=accent,
        repeats=int(rng.integers(6, 15)),
        period=float(rng.uniform(0.025, 0.06)),
        direction=STRIPE_DIRECTIONS[rng.integers(len(STRIPE_DIRECTIONS))],
        duty=float(rng.uniform(-0.3, 0.3) if kind != "dots" else rng.uniform(0.22, 0.38)),
    )


def _square(phase: np.ndarray, step: np.ndarray, threshold: float) -> np.ndarray:
    """Anti-aliased square wave in [0, 1]: 1 where sin(phase) > threshold.

    `step` is how much the phase advances across one pixel; the edge ramp is one pixel wide, and where
    the pattern is finer than about two pixels it fades to its mean so that it cannot alias.
    """
    step = np.maximum(step, 1e-6)
    sharp = np.clip((np.sin(phase) - threshold) / step + 0.5, 0.0, 1.0)
    mean = 1.0 - np.arccos(np.clip(threshold, -1, 1)) / np.pi
    blur = np.clip(step / np.pi - 0.5, 0.0, 1.0)
    return sharp + (mean - sharp) * blur


def accent_mask(fabric: Fabric, psi: np.ndarray, v: np.ndarray, psi_step: np.ndarray, pixel: float,
                radius: float) -> np.ndarray:
    """Where the accent colour shows, in [0, 1], for the body points (psi, v).

    Args:
        fabric: the pattern.
        psi: body angle of each pixel (radians), any shape.
        v: height of each pixel in figure units, broadcastable to psi.
        psi_step: change of psi across one pixel (radians), broadcastable to psi; large at the silhouette.
        pixel: pixel size in figure units.
        radius: body radius in figure units, which converts psi to arc length.
    """
    if fabric.kind == "plain":
        return np.zeros(np.broadcast_shapes(np.shape(psi), np.shape(v)), dtype=np.float32)
    n = fabric.repeats
    around = n * psi  # phase around the body
    up = (2 * np.pi / fabric.period) * v  # phase down the body
    step_around = n * psi_step
    step_up = 2 * np.pi * pixel / fabric.period
    if fabric.kind == "stripes":
        if fabric.direction == "horizontal":
            return _square(up + 0 * around, step_up + 0 * step_around, fabric.duty)
        if fabric.direction == "vertical":
            return _square(around + 0 * up, step_around, fabric.duty)
        return _square(around + up, step_around + step_up, fabric.duty)
    if fabric.kind == "checks":
        a = 2 * _square(around + 0 * up, step_around, 0.0) - 1
        b = 2 * _square(up + 0 * around, step_up + 0 * step_around, 0.0) - 1
        return 0.5 + 0.5 * a * b
    # Dots on a staggered grid: odd rows are shifted by half a cell around the body.
    cell_u = 2 * np.pi * radius / n
    row = np.floor(v / fabric.period)
    fu = (around / (2 * np.pi) + 0.5 * (row % 2)) % 1.0 - 0.5
    fv = (v / fabric.period) % 1.0 - 0.5
    du = fu * cell_u
    dv = fv * fabric.period
    r = fabric.duty * min(cell_u, fabric.period)
    dist = np.sqrt(du * du + dv * dv) - r
    footprint = np.maximum(psi_step * radius, pixel)
    sharp = np.clip(0.5 - dist / footprint, 0.0, 1.0)
    mean = np.pi * r * r / (cell_u * fabric.period)
    blur = np.clip(footprint / (2 * r) - 0.5, 0.0, 1.0)
    return sharp + (mean - sharp) * blur
