"""Published-value checks: does this installation's FVD reproduce numbers other projects published?

    python bench/published_values.py [--weights-dir DIR] [--i3d PATH] [--i3d-torchscript PATH] [--threads 2]

Run it first on a machine with the real I3D weights (docs/reproduce.md). Three checks, each from a
public project's own example:

1. StyleGAN-V path (TorchScript detector `i3d_torchscript.pt`): 8 all-zero against 8 all-one videos of
   30 frames at 64x64, values in [0, 1], the shorter side scaled to 224 and centre-cropped, then mapped to
   [-1, 1]. The common_metrics_on_video_quality project reports 151.26 (and says PyTorch versions move it
   by about 1).
2. TensorFlow path: the same videos through the TF-hub I3D give 151.39 in that project. ffbench has no
   TensorFlow; the PyTorch port of that network (`i3d_pretrained_400.pt`, ffbench's `fvd` extractor)
   stands in for it and should land within the same tolerance.
3. universome/fvd-comparison: 128 videos of 16 uniform-noise frames at 224x224 (numpy RandomState seeds 1
   and 2 for the two sets), fed to the TorchScript detector as they are; both the TensorFlow original and
   StyleGAN-V's port give 10.138.

Every distance is ffbench's own `frechet_distance`. Without a weight file a check says which file is
missing, where to get it and where to put it, and the script exits 0 without a number.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

TOLERANCE = 1.0  # the reporting project: "the number may fluctuate around 1" across PyTorch versions


def _features(model: torch.nn.Module, videos: torch.Tensor, batch: int = 4) -> np.ndarray:
    """400-d Kinetics features of (N, 3, T, 224, 224) clips in the detector's value range."""
    out = []
    with torch.no_grad():
        for i in range(0, len(videos), batch):
            out.append(model(videos[i:i + batch]).logits.double().numpy())
    return np.concatenate(out)


def _shorter_side_224(videos: torch.Tensor) -> torch.Tensor:
    """(N, 3, T, H, W) in [0, 1] -> shorter side scaled to 224 (bilinear), centre crop, values [-1, 1]."""
    n, c, t, h, w = videos.shape
    scale = 224 / min(h, w)
    size = (224, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), 224)
    frames = F.interpolate(videos.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w), size=size, mode="bilinear",
                           align_corners=False)
    top, left = (frames.shape[2] - 224) // 2, (frames.shape[3] - 224) // 2
    frames = frames[:, :, top:top + 224, left:left + 224]
    return (frames.reshape(n, t, c, 224, 224).permute(0, 2, 1, 3, 4) - 0.5) * 2


def _zeros_vs_ones(model: torch.nn.Module) -> float:
    from ffbench.metrics.frechet import frechet_distance_from_features

    zeros, ones = torch.zeros(8, 3, 30, 64, 64), torch.ones(8, 3, 30, 64, 64)
    return frechet_distance_from_features(_features(model, _shorter_side_224(zeros)),
                                          _features(model, _shorter_side_224(ones)))


def _random_noise(model: torch.nn.Module) -> float:
    from ffbench.metrics.frechet import frechet_distance_from_features

    feats = []
    for seed in (1, 2):
        clips = np.random.RandomState(seed).rand(128, 16, 224, 224, 3).astype(np.float32)
        feats.append(_features(model, torch.from_numpy(clips).permute(0, 4, 1, 2, 3)))
        del clips
    return frechet_distance_from_features(*feats)


def _load(kind: str, spec: str | None, weights_dir: str | None):
    """The extractor's network, or (None, why) when its weight file is not here."""
    from ffbench.metrics.weights import WEIGHT_SOURCES, WeightsError, load_i3d

    source = WEIGHT_SOURCES[kind]
    try:
        extractor = load_i3d(spec or ("stylegan-v" if kind == "stylegan-v" else None), "k400",
                             cache_dir=weights_dir)
    except WeightsError:
        where = weights_dir or "~/.cache/ffbench/weights"
        option = "--i3d-torchscript" if kind == "stylegan-v" else "--i3d"
        return None, (f"{source.filename} is missing: get it from {source.url}, put it in {where} or pass "
                      f"{option}")
    return extractor.model.eval(), f"{extractor.label}, sha256 {extractor.sha256[:16]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights-dir", default=None, help="folder of downloaded weights "
                        "(default ~/.cache/ffbench/weights)")
    parser.add_argument("--i3d", default=None, help="i3d_pretrained_400.pt (the PyTorch port)")
    parser.add_argument("--i3d-torchscript", default=None, help="StyleGAN-V's i3d_torchscript.pt")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    given = argv if argv is not None else sys.argv[1:]
    print("command: python bench/published_values.py " + shlex.join(given))

    checks = [
        ("StyleGAN-V path, zeros vs ones (8 x 30 x 64x64)", "stylegan-v", args.i3d_torchscript,
         _zeros_vs_ones, 151.26, "common_metrics_on_video_quality README"),
        ("TF path via the PyTorch port, zeros vs ones", "k400", args.i3d, _zeros_vs_ones, 151.39,
         "common_metrics_on_video_quality README (TensorFlow 1.15)"),
        ("StyleGAN-V path, noise seeds 1 vs 2 (128 x 16 x 224x224)", "stylegan-v", args.i3d_torchscript,
         _random_noise, 10.138, "universome/fvd-comparison README"),
    ]
    rows, failed, missing = [], 0, 0
    models: dict[str, tuple] = {}
    for title, kind, spec, run, published, source in checks:
        if kind not in models:
            models[kind] = _load(kind, spec, args.weights_dir)
        model, about = models[kind]
        if model is None:
            missing += 1
            rows.append(f"| {title} | {published} | - | not run: {about} |")
            continue
        start = time.perf_counter()
        value = run(model)
        ok = abs(value - published) <= TOLERANCE
        failed += not ok
        seconds = time.perf_counter() - start
        rows.append(f"| {title} | {published} | {value:.3f} | {'OK' if ok else 'DIFFERS'} (|diff| "
                    f"{abs(value - published):.3f}, tolerance {TOLERANCE}; {seconds:.0f} s; {about}; "
                    f"published in {source}) |")
    print("| check | published | ffbench | result |\n|---|---|---|---|")
    print("\n".join(rows))
    if missing:
        print(f"{missing} check(s) not run: their weights are not on this machine (no number is printed for "
              "them). See docs/reproduce.md for the files.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
