"""The movements of a Fashion-dataset model: turning around, stepping side to side, swaying, arm poses.

A `Motion` holds the random amplitudes, speeds and phases of one video; `Motion.pose(t)` evaluates them
at times `t` (seconds, shape (n,)) and returns a `Pose` of per-frame arrays. Motions are defined in
seconds, not frames, so a longer video at the same frame rate shows more of the same movement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pose:
    """Per-frame pose parameters; every field is a float array of shape (n,)."""

    theta: np.ndarray  # turn angle (radians): 0 faces the camera, pi shows the back
    shift: np.ndarray  # horizontal offset of the body in figure units (1.0 = frame height)
    tilt: np.ndarray  # sway: lean of the body about the feet (radians, shear slope)
    foot_shift: np.ndarray  # horizontal offset of the feet relative to the body axis (figure units)
    lift: np.ndarray  # (2, n): lift of the left and right foot (figure units)
    abduct: np.ndarray  # (2, n): left / right upper arm angle out from the body (radians)
    swing: np.ndarray  # (2, n): left / right arm angle forwards, towards the camera at theta = 0 (radians)
    bend: np.ndarray  # (2, n): left / right elbow bend, inward (radians)
    skirt_lag: np.ndarray  # horizontal lag of the hem relative to the waist (figure units)


@dataclass(frozen=True)
class Motion:
    turn_start: float  # radians
    turn_rate: float  # radians per second (signed); 0 = no continuous turn
    turn_wobble: float  # amplitude (radians) of a slow back-and-forth twist on top of the turn
    turn_wobble_freq: float  # Hz
    turn_wobble_phase: float
    step_amp: float  # figure units: how far the body moves left and right
    step_freq: float  # Hz
    step_phase: float
    sway_amp: float  # radians of lean
    sway_freq: float
    sway_phase: float
    arm_base: tuple[float, float]  # left / right resting abduction (radians)
    arm_amp: tuple[float, float]  # amplitude of the abduction movement
    arm_freq: tuple[float, float]
    arm_phase: tuple[float, float]
    swing_amp: float  # forward swing amplitude, both arms in opposition
    elbow_base: tuple[float, float]
    elbow_amp: float

    def pose(self, t: np.ndarray) -> Pose:
        """Evaluate the motion at times `t` (seconds, shape (n,)); returns per-frame arrays."""
        t = np.asarray(t, dtype=np.float64)
        two_pi = 2 * np.pi
        theta = (self.turn_start + self.turn_rate * t
                 + self.turn_wobble * np.sin(two_pi * self.turn_wobble_freq * t + self.turn_wobble_phase))
        step_phase = two_pi * self.step_freq * t + self.step_phase
        shift = self.step_amp * np.sin(step_phase)
        velocity = self.step_amp * two_pi * self.step_freq * np.cos(step_phase)
        # The feet stay half planted while the body moves over them; the trailing foot lifts as it follows.
        foot_shift = -0.5 * shift
        lift = np.stack([np.maximum(0.0, -s * np.cos(step_phase)) ** 2 for s in (-1, 1)])
        lift = lift * min(0.5 * self.step_amp, 0.012)
        tilt = self.sway_amp * np.sin(two_pi * self.sway_freq * t + self.sway_phase)
        arm_wave = [np.sin(two_pi * self.arm_freq[i] * t + self.arm_phase[i]) for i in range(2)]
        abduct = np.stack([np.clip(self.arm_base[i] + self.arm_amp[i] * arm_wave[i], 0.04, 0.95)
                           for i in range(2)])
        swing_wave = np.sin(two_pi * self.arm_freq[0] * 0.5 * t + self.arm_phase[1])
        swing = np.stack([self.swing_amp * swing_wave, -self.swing_amp * swing_wave])
        # The elbow moves with its arm, a little ahead of it.
        elbow_wave = [np.sin(two_pi * self.arm_freq[i] * t + self.arm_phase[i] + 1.0) for i in range(2)]
        bend = np.stack([np.clip(self.elbow_base[i] + self.elbow_amp * elbow_wave[i], 0.0, 2.2)
                         for i in range(2)])
        return Pose(theta=theta, shift=shift, tilt=tilt, foot_shift=foot_shift, lift=lift, abduct=abduct,
                    swing=swing, bend=bend, skirt_lag=-0.08 * velocity)


def sample_motion(rng: np.random.Generator) -> Motion:
    """Draw a motion that mixes turning, stepping, swaying and arm movement with random phases/speeds.

    Most videos turn (a full turn takes 2.5 to 8 seconds, either direction) starting near the front, as
    the Fashion models do; the rest pose in place with a small twist.
    """
    turning = rng.random() < 0.75
    start = rng.uniform(-0.4, 0.4) if rng.random() < 0.8 else rng.uniform(0, 2 * np.pi)
    rate = rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 2.5) if turning else 0.0
    hand_on_hip = rng.random() < 0.3
    base = (rng.uniform(0.05, 0.35), rng.uniform(0.05, 0.35))
    elbow = (rng.uniform(0.0, 0.6), rng.uniform(0.0, 0.6))
    if hand_on_hip:  # one hand on the hip: arm out, elbow bent hard inward
        side = rng.integers(2)
        base = tuple(rng.uniform(0.55, 0.75) if i == side else base[i] for i in range(2))
        elbow = tuple(rng.uniform(1.6, 2.0) if i == side else elbow[i] for i in range(2))
    return Motion(
        turn_start=float(start),
        turn_rate=float(rate),
        turn_wobble=float(rng.uniform(0.0, 0.5)),
        turn_wobble_freq=float(rng.uniform(0.15, 0.5)),
        turn_wobble_phase=float(rng.uniform(0, 2 * np.pi)),
        step_amp=float(rng.uniform(0.0, 0.045) if rng.random() < 0.7 else 0.0),
        step_freq=float(rng.uniform(0.3, 0.9)),
        step_phase=float(rng.uniform(0, 2 * np.pi)),
        sway_amp=float(rng.uniform(0.0, 0.06)),
        sway_freq=float(rng.uniform(0.2, 0.7)),
        sway_phase=float(rng.uniform(0, 2 * np.pi)),
        arm_base=tuple(float(b) for b in base),
        arm_amp=(float(rng.uniform(0.0, 0.3)), float(rng.uniform(0.0, 0.3))),
        arm_freq=(float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8))),
        arm_phase=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
        swing_amp=float(rng.uniform(0.0, 0.5)),
        elbow_base=tuple(float(e) for e in elbow),
        elbow_amp=float(rng.uniform(0.0, 0.4)),
    )
