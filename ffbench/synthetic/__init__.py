"""The embedded synthetic fashion video dataset, which lets all of ffbench run offline.

`render_video(seed, frames, height, width)` draws one deterministic video; `make_dataset(out_dir, ...)`
writes a folder of mp4s with a list file per split (`fashion_train.txt` / `fashion_test.txt` by default),
laid out like a downloaded copy of the Fashion dataset.
"""

from ffbench.synthetic.dataset import DatasetSummary, make_dataset, video_id
from ffbench.synthetic.figure import Look, render_frames, sample_look
from ffbench.synthetic.motion import Motion, Pose, sample_motion
from ffbench.synthetic.patterns import PATTERN_KINDS, Fabric
from ffbench.synthetic.render import FPS, render_clip, render_video, sample_video

__all__ = [
    "FPS",
    "PATTERN_KINDS",
    "DatasetSummary",
    "Fabric",
    "Look",
    "Motion",
    "Pose",
    "make_dataset",
    "render_clip",
    "render_frames",
    "render_video",
    "sample_look",
    "sample_motion",
    "sample_video",
    "video_id",
]
