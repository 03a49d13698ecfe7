"""Conditioning images: read any still image, make it RGB, and fit it to the model's frame size (cover and
centre-crop, ffbench's default; or stretch, as the public FashionFlow inference does). A base module, so
`ffbench.generation` and every model read and fit images the same way."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

ImageInput = str | os.PathLike | Image.Image | np.ndarray


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any PIL mode -> RGB. Transparency (RGBA, LA, palette with a transparent index) is composited over
    `background` (white, the studio backdrop of fashion photos) instead of being dropped to black."""
    image = ImageOps.exif_transpose(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # high-bit-depth greyscale: rescale to 8 bits rather than let PIL clip at 255
        values = np.asarray(image, dtype=np.float64)
        span = max(values.max() - values.min(), 1e-12)
        image = Image.fromarray(((values - values.min()) / span * 255).round().astype(np.uint8), "L")
    return image.convert("RGB")


def load_image(source: ImageInput) -> Image.Image:
    """A path, PIL image or uint8 array (H, W), (H, W, 3) or (H, W, 4) -> an RGB PIL image.

    Raises ValueError naming the path when the file is missing or is not a readable image.
    """
    if isinstance(source, Image.Image):
        return to_rgb(source)
    if isinstance(source, np.ndarray):
        if (
            source.dtype != np.uint8
            or source.ndim not in (2, 3)
            or (source.ndim == 3 and source.shape[2] not in (3, 4))
        ):
            raise ValueError(
                f"image array must be uint8 (H, W), (H, W, 3) or (H, W, 4), got {source.dtype} {source.shape}"
            )
        return to_rgb(Image.fromarray(source))
    path = Path(source)
    if not path.is_file():
        raise ValueError(
            f"image {str(path)!r} does not exist or is not a file; give the path of a PNG/JPEG image"
        )
    try:
        with Image.open(path) as opened:
            opened.load()
            return to_rgb(opened)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(
            f"image {str(path)!r} cannot be read as an image ({err}); give a PNG/JPEG/WebP file"
        ) from err


def fit_image(image: Image.Image, height: int, width: int) -> np.ndarray:
    """Resize to cover (height, width) keeping the aspect ratio, centre-crop: uint8 (height, width, 3)."""
    fitted = ImageOps.fit(
        to_rgb(image), (width, height), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5)
    )
    return np.array(fitted, dtype=np.uint8)  # a writable copy


def stretch_image(image: Image.Image, height: int, width: int) -> np.ndarray:
    """Resize to exactly (height, width), each axis on its own (the aspect ratio may change, nothing is
    cropped), with PIL's bilinear filter: uint8 (height, width, 3). The public FashionFlow inference's
    `transforms.Resize((640, 512), BILINEAR)` on a PIL image is this resize (`inference="official"`)."""
    stretched = to_rgb(image).resize((width, height), resample=Image.Resampling.BILINEAR)
    return np.array(stretched, dtype=np.uint8)


def to_unit_float(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float32 (B, 3, H, W) in [0, 1] (torchvision's ToTensor: value / 255)."""
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[-1] != 3:
        raise ValueError(f"pixels must be uint8 (B, H, W, 3), got {pixels.dtype} {pixels.shape}")
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float().div(255.0)
