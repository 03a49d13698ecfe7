"""Draw a model in a dress on a studio background, frame by frame, fully vectorised over (frames, H, W).

Geometry lives in "body units": 1.0 is the frame height, y grows downwards, x is measured from the
body's vertical axis, and the soles rest at FOOT_Y. Each frame maps the pixel grid into body units (the
inverse of the figure's scale, sideways shift and sway), evaluates signed distances of the body parts
(sdf.py) and composites them back to front with anti-aliased coverage. Turning is a rotation about the
vertical axis: limb anchors are rotated in 3D and projected, the torso and head are treated as
cylinders (the dress pattern and the face are attached to the body angle, so they slide round and
vanish at the back, where the hair takes over), and widths narrow towards the side view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ffbench.synthetic.canvas import FOOT_Y, Canvas, col
from ffbench.synthetic.motion import Pose
from ffbench.synthetic.patterns import Fabric, accent_mask, hsv, sample_fabric
from ffbench.synthetic.sdf import capsule, coverage, ellipse, smoothstep, trapezoid

RGB = tuple[float, float, float]

HEAD_Y, HEAD_RX, HEAD_RY = 0.135, 0.043, 0.056
SHOULDER_Y, SHOULDER_X = 0.215, 0.072  # arm pivots
WAIST_Y, WAIST_W = 0.39, 0.045
HIP_Y, HIP_X = 0.47, 0.03
ANKLE_Y = 0.915
UPPER_ARM, FOREARM = 0.135, 0.125
BODY_DEPTH, SKIRT_DEPTH, HEAD_DEPTH = 0.62, 0.8, 0.88  # side-view width / front-view width

SKIN_LIGHT, SKIN_DARK = np.array([0.96, 0.80, 0.69]), np.array([0.36, 0.22, 0.15])
HAIR_COLOURS = ((0.08, 0.06, 0.05), (0.25, 0.15, 0.08), (0.45, 0.30, 0.17), (0.85, 0.70, 0.45),
                (0.55, 0.22, 0.10), (0.62, 0.60, 0.58))


@dataclass(frozen=True)
class Look:
    """Everything about a video's appearance that stays fixed over time."""

    scale: float  # figure size about the feet (1.0 fills the frame from about 7% to 94% of its height)
    skin: RGB
    hair: RGB
    hair_length: float  # how far long hair falls below the head centre (0: short hair)
    hair_side: float  # cos(body angle) below which the head shows hair: larger = more hair framing the face
    fringe: float  # hairline height above the head centre, as a fraction of the head's half-height
    legs: RGB  # bare legs (skin) or tights
    shoes: RGB
    background_top: RGB
    background_bottom: RGB
    fabric: Fabric
    bodice_w: float  # half-width of the dress at the shoulders
    hem_y: float  # height of the hem
    hem_w: float  # half-width of the hem (flare)
    neckline: float  # depth of the front neckline below the shoulder line
    sleeve: float  # fraction of the upper arm covered by a sleeve (0: sleeveless)
    belt: RGB | None


def sample_look(rng: np.random.Generator) -> Look:
    """Draw skin tone, hair, dress cut and fabric, shoes and a light studio background."""
    skin = tuple(float(c) for c in np.clip(SKIN_LIGHT + (SKIN_DARK - SKIN_LIGHT) * rng.random()
                                           + rng.normal(0, 0.015, 3), 0, 1))
    hair = tuple(float(c) for c in np.clip(np.array(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))])
                                           + rng.normal(0, 0.03, 3), 0, 1))
    bg_hue, bg_sat, bg_val = rng.random(), rng.uniform(0.0, 0.12), rng.uniform(0.78, 0.97)
    grade = rng.uniform(-0.04, 0.04)  # a very gentle top-to-bottom gradient, sometimes none
    fabric = sample_fabric(rng)
    hem_y = float(rng.uniform(0.55, 0.84))
    return Look(
        scale=float(rng.uniform(0.9, 1.0)),
        skin=skin,
        hair=hair,
        hair_length=float(rng.choice([0.0, rng.uniform(0.07, 0.2)], p=[0.25, 0.75])),
        hair_side=float(rng.uniform(0.15, 0.45)),
        fringe=float(rng.uniform(0.15, 0.55)),
        legs=skin if rng.random() < 0.75 else hsv(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.05, 0.25)),
        shoes=hsv(rng.random(), rng.uniform(0, 0.8), rng.uniform(0.05, 0.8)),
        background_top=hsv(bg_hue, bg_sat, bg_val),
        background_bottom=hsv(bg_hue, bg_sat, float(np.clip(bg_val + grade, 0, 1))),
        fabric=fabric,
        bodice_w=float(rng.uniform(0.056, 0.066)),
        hem_y=hem_y,
        hem_w=float(rng.uniform(0.06, 0.09) + 0.08 * (hem_y - 0.55)),
        neckline=float(rng.uniform(0.012, 0.05)),
        sleeve=float(rng.choice([0.0, rng.uniform(0.25, 0.6), 0.95], p=[0.5, 0.35, 0.15])),
        belt=(fabric.accent if rng.random() < 0.5 else hsv(rng.random(), 0.5, 0.2)) if rng.random() < 0.3
        else None,
    )


def _width(theta: np.ndarray, depth: float) -> np.ndarray:
    """Apparent width factor of an elliptic cross-section turned by theta (1 at front, `depth` at side)."""
    return np.sqrt(np.cos(theta) ** 2 + (depth * np.sin(theta)) ** 2)


def _arm_points(pose: Pose, side: int, i: int) -> dict[str, np.ndarray]:
    """Screen-plane shoulder, elbow and hand of arm `i` (side -1 or +1) and the shoulder's depth."""
    th = pose.theta
    c, s = np.cos(th), np.sin(th)
    a, b, bend = pose.abduct[i], pose.swing[i], pose.bend[i]
    a2, b2 = a - bend, b + 0.3 * bend  # the forearm folds inward and a little forwards
    upper = np.stack([side * np.sin(a) * np.cos(b), np.cos(a) * np.cos(b), np.sin(b)]) * UPPER_ARM
    fore = np.stack([side * np.sin(a2) * np.cos(b2), np.cos(a2) * np.cos(b2), np.sin(b2)]) * FOREARM

    def project(v):  # body-frame (x, y, z) offsets -> screen x offset and depth (towards the camera)
        return v[0] * c + v[2] * s, -v[0] * s + v[2] * c

    sx, sdepth = project(np.stack([side * SHOULDER_X * np.ones_like(th), 0 * th, 0 * th]))
    ux, _ = project(upper)
    fx, _ = project(fore)
    ey = SHOULDER_Y + upper[1]
    return {"sx": sx, "sy": SHOULDER_Y + 0 * th, "ex": sx + ux, "ey": ey, "hx": sx + ux + fx,
            "hy": ey + fore[1], "depth": sdepth}


def render_frames(look: Look, pose: Pose, height: int, width: int) -> np.ndarray:
    """Render the frames of `pose` (n frames).

    Returns:
        float32 array (n, H, W, 3) in [0, 1].
    """
    n = len(pose.theta)
    # Studio background, constant over time.
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height
    grad = ((ys - ys[0]) / max(float(ys[-1] - ys[0]), 1e-6))[:, None, None]  # (H, 1, 1)
    top, bottom = np.float32(look.background_top), np.float32(look.background_bottom)
    img = np.empty((n, height, width, 3), dtype=np.float32)
    img[:] = top + (bottom - top) * grad
    cv = Canvas(img, look.scale, pose.shift, pose.tilt)
    px = cv.pixel
    theta = col(pose.theta)
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    foot_shift = col(pose.foot_shift)

    # Soft contact shadow under the feet.
    r = cv.region(pose.foot_shift - 0.09, pose.foot_shift + 0.09, FOOT_Y - 0.02, FOOT_Y + 0.02)
    shadow = np.clip(-ellipse(r.xb, r.yb, foot_shift, FOOT_Y, 0.085, 0.014) / 0.02, 0, 1) * 0.22
    cv.paint(r, shadow, (0.0, 0.0, 0.0))

    # Long hair, the part behind the body (the part over the back is drawn after the dress).
    hair_x = -0.4 * HEAD_RX * sin_t  # hair falls from the back of the head
    hw = HEAD_RX * _width(theta, 0.9)
    long_hair = None
    if look.hair_length > 0:
        hair_r = cv.region(-0.07, 0.07, HEAD_Y, HEAD_Y + look.hair_length)
        d, _ = trapezoid(hair_r.xb, hair_r.yb, hair_x, HEAD_Y, hw * 1.05, hair_x, HEAD_Y + look.hair_length,
                         hw * 1.15)
        long_hair = coverage(d, px)
        cv.paint(hair_r, long_hair, look.hair)

    # Limbs: compute each once, paint the one turned away before the body and the other after it.
    arms = []
    for i, side in enumerate((-1, 1)):
        q = _arm_points(pose, side, i)
        xs = np.stack([q["sx"], q["ex"], q["hx"]])
        ys = np.stack([q["sy"], q["ey"], q["hy"]])
        r = cv.region(xs.min(0) - 0.03, xs.max(0) + 0.03, float(ys.min()) - 0.03, float(ys.max()) + 0.03)
        p = {k: col(v) for k, v in q.items()}
        d_arm = np.minimum(capsule(r.xb, r.yb, p["sx"], p["sy"], p["ex"], p["ey"], 0.016, 0.013),
                           capsule(r.xb, r.yb, p["ex"], p["ey"], p["hx"], p["hy"], 0.013, 0.011))
        d_arm = np.minimum(d_arm, ellipse(r.xb, r.yb, p["hx"], p["hy"] + 0.006, 0.011, 0.015))
        sleeve = None
        if look.sleeve > 0:
            f = look.sleeve
            d_sl = capsule(r.xb, r.yb, p["sx"], p["sy"], p["sx"] + f * (p["ex"] - p["sx"]),
                           p["sy"] + f * (p["ey"] - p["sy"]), 0.019, 0.016)
            sleeve = coverage(d_sl, px)
        arms.append((r, coverage(d_arm, px), sleeve, col(q["depth"] < 0)))

    legs = []
    for i, side in enumerate((-1, 1)):
        hx = side * HIP_X * cos_t
        ax = side * (HIP_X + 0.006) * cos_t + foot_shift
        ay = ANKLE_Y - col(pose.lift[i])
        r = cv.region(np.minimum(pose.foot_shift, 0) - 0.08, np.maximum(pose.foot_shift, 0) + 0.08,
                      HIP_Y - 0.03, FOOT_Y + 0.01)
        d_leg = capsule(r.xb, r.yb, hx, HIP_Y, ax, ay, 0.026, 0.014)
        d_shoe = ellipse(r.xb, r.yb, ax + 0.012 * sin_t, ay + 0.016, 0.013 + 0.011 * np.abs(sin_t), 0.011)
        legs.append((r, coverage(d_leg, px), coverage(d_shoe, px), col(side * np.sin(pose.theta) > 0)))

    def paint_arm(k: int, mask: np.ndarray, shade: float) -> None:
        r, cov, sleeve, _ = arms[k]
        cv.paint(r, cov * mask, np.float32(look.skin) * shade)
        if sleeve is not None:
            cv.paint(r, sleeve * mask, np.float32(look.fabric.base) * shade)

    def paint_leg(k: int, mask: np.ndarray, shade: float) -> None:
        r, leg, shoe, _ = legs[k]
        cv.paint(r, leg * mask, np.float32(look.legs) * shade)
        cv.paint(r, shoe * mask, np.float32(look.shoes) * shade)

    for k in range(2):
        paint_arm(k, arms[k][3], 0.85)
    paint_leg(1, legs[1][3], 0.9)  # the leg further from the camera first
    paint_leg(0, np.ones_like(legs[0][3]), 0.95)
    paint_leg(1, 1 - legs[1][3], 0.95)

    # Neck and chest skin (the neckline of the dress reveals the chest).
    body_w = _width(theta, BODY_DEPTH)
    r = cv.region(-0.08, 0.08, HEAD_Y, SHOULDER_Y + 0.09)
    neck = capsule(r.xb, r.yb, 0.0, HEAD_Y + 0.03, 0.0, SHOULDER_Y + 0.01, 0.017, 0.019)
    chest, _ = trapezoid(r.xb, r.yb, 0.0, SHOULDER_Y - 0.008, look.bodice_w * body_w, 0.0, SHOULDER_Y + 0.08,
                         look.bodice_w * body_w)
    cv.paint(r, coverage(np.minimum(neck, chest), px), look.skin)

    # The dress: bodice and skirt wrapped as cylinders, so the fabric follows the body angle.
    skirt_w = _width(theta, SKIRT_DEPTH)
    reach = max(look.bodice_w, look.hem_w) + 0.01
    r = cv.region(np.minimum(pose.skirt_lag, 0) - reach, np.maximum(pose.skirt_lag, 0) + reach,
                  SHOULDER_Y - 0.015, look.hem_y + 0.01)
    xb, yb = r.xb, r.yb
    d_bod, rel_bod = trapezoid(xb, yb, 0.0, SHOULDER_Y - 0.008, look.bodice_w * body_w, 0.0, WAIST_Y,
                               WAIST_W * body_w)
    d_sk, rel_sk = trapezoid(xb, yb, 0.0, WAIST_Y, WAIST_W * body_w, col(pose.skirt_lag), look.hem_y,
                             look.hem_w * skirt_w)
    on_bodice = d_bod < d_sk
    rel = np.clip(np.where(on_bodice, rel_bod, rel_sk), -0.999, 0.999)
    half = np.where(on_bodice, look.bodice_w * body_w + (WAIST_W - look.bodice_w) * body_w
                    * np.clip((yb - SHOULDER_Y) / (WAIST_Y - SHOULDER_Y), 0, 1),
                    WAIST_W * body_w + (look.hem_w * skirt_w - WAIST_W * body_w)
                    * np.clip((yb - WAIST_Y) / (look.hem_y - WAIST_Y), 0, 1))
    depth_cos = np.sqrt(1 - rel * rel)
    psi = np.arcsin(rel) - theta  # body angle: 0 at the front
    psi_step = np.minimum(px / (half * depth_cos), np.pi)
    accent = accent_mask(look.fabric, psi, yb, psi_step, px, 0.5 * (look.bodice_w + look.hem_w))
    base, acc = np.float32(look.fabric.base), np.float32(look.fabric.accent)
    fabric = base + (acc - base) * accent[..., None]
    if look.belt is not None:
        belt = coverage(np.abs(yb - WAIST_Y) - 0.008, px)
        fabric = fabric + (np.float32(look.belt) - fabric) * belt[..., None]
    fabric *= (0.7 + 0.3 * depth_cos)[..., None]  # light from the camera: darker at the sides
    front = np.mod(psi + np.pi, 2 * np.pi) - np.pi  # psi wrapped to [-pi, pi)
    neck_edge = SHOULDER_Y + look.neckline * np.clip(1 - (front / 0.7) ** 2, 0, 1)
    dress = coverage(np.minimum(d_bod, d_sk), px) * (1 - coverage(yb - neck_edge, px) * (np.abs(front) < 0.7))
    cv.paint(r, dress, fabric)

    # Head: skin, face details at fixed body angles, then hair over the back and top.
    head_w = HEAD_RX * _width(theta, HEAD_DEPTH)
    r = cv.region(-0.06, 0.06, HEAD_Y - 1.1 * HEAD_RY - 0.01, HEAD_Y + HEAD_RY + 0.01)
    xb, yb = r.xb, r.yb
    cap = coverage(ellipse(xb, yb, hair_x * 0.3, HEAD_Y - 0.007, head_w * 1.13, HEAD_RY * 1.1), px)
    cv.paint(r, cap, look.hair)
    head = coverage(ellipse(xb, yb, 0.0, HEAD_Y, head_w, HEAD_RY), px)
    cv.paint(r, head, look.skin)
    for angle, dy, rx, ry, colour in ((-0.38, -0.004, 0.0075, 0.0045, (0.1, 0.07, 0.06)),
                                      (0.38, -0.004, 0.0075, 0.0045, (0.1, 0.07, 0.06)),
                                      (0.0, 0.03, 0.011, 0.004, (0.62, 0.25, 0.25))):
        seen = np.cos(angle + theta)
        fx = head_w * np.sin(angle + theta)
        feature = coverage(ellipse(xb, yb, fx, HEAD_Y + dy, np.maximum(rx * seen, 1e-3), ry), px)
        cv.paint(r, feature * head * np.clip(seen * 4, 0, 1), colour)
    head_rel = np.clip(xb / head_w, -0.999, 0.999)
    head_psi = np.arcsin(head_rel) - theta
    hair = np.maximum(smoothstep(look.hair_side + 0.12, look.hair_side - 0.12, np.cos(head_psi)),
                      coverage(yb - (HEAD_Y - look.fringe * HEAD_RY), px))
    cv.paint(r, head * hair, np.float32(look.hair) * (0.85 + 0.15 * np.sqrt(1 - head_rel ** 2))[..., None])

    # Long hair over the back when the model faces away.
    if long_hair is not None:
        cv.paint(hair_r, long_hair * smoothstep(0.0, 0.4, -cos_t), look.hair)

    for k in range(2):
        paint_arm(k, 1 - arms[k][3], 1.0)
    return np.clip(img, 0.0, 1.0, out=img)
