"""Video metrics: FVD, KVD, VFID-I3D, FID and IS over one Frechet distance and one statistics accumulator.

Entry point: `ffbench.metrics.evaluate.evaluate(metrics, real, fake, ...)`; protocols in `protocols`,
extractors and their weights in `i3d`, `inception` and `weights`.
"""
