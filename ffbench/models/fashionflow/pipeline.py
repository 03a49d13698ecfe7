"""FashionFlowPipeline: one still image in, a video out, called like StableVideoDiffusionPipeline.

    pipe = FashionFlowPipeline.from_pretrained("runs/ff-cpu/pipeline")
    frames = pipe(image, num_frames=16, num_inference_steps=25, generator=g).frames[0]

Steps: fit the image to the model's frame size; encode it with the VAE (the latent that replaces frame
0 and feeds the adapter) and CLIP (global tokens); sample the latent clip with the scheduler; decode
frame by frame; optionally double the frame rate with the interpolation model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, SchedulerMixin
from diffusers.utils import BaseOutput
from diffusers.video_processor import VideoProcessor
from transformers import CLIPImageProcessor, CLIPVisionModel

from ffbench.models.fashionflow.images import ImageInput, fit_image, load_image
from ffbench.models.fashionflow.model import FashionFlowConfigError, FashionFlowModel
from ffbench.models.fashionflow.sampling import interpolation_windows, sample_interpolation, sample_keyframes
from ffbench.models.fashionflow.schedule import default_steps, sampler_kind


@dataclass
class FashionFlowPipelineOutput(BaseOutput):
    """frames: per batch item a list of PIL images, or an array (B, F, H, W, 3) in [0, 1] ("np"), or a
    tensor (B, F, 3, H, W) in [0, 1] ("pt"), or the latents (B, 4, F, h, w) ("latent")."""

    frames: list[list[PIL.Image.Image]] | np.ndarray | torch.Tensor


def _check_model(model: object, role: str, stage: str) -> None:
    if not isinstance(model, FashionFlowModel):
        raise FashionFlowConfigError(f"{role} must be a FashionFlowModel, got {type(model).__name__}")
    if model.config.stage != stage:
        raise FashionFlowConfigError(
            f"{role} has stage={model.config.stage!r}; a {role} needs stage={stage!r}"
        )


def check_components(
    unet: FashionFlowModel,
    vae: AutoencoderKL,
    image_encoder: CLIPVisionModel,
    interpolator: FashionFlowModel | None = None,
) -> None:
    """Raise FashionFlowConfigError naming the first mismatch between the model(s) and the encoders."""
    _check_model(unet, "unet", "keyframes")
    cfg = unet.config
    if vae.config.latent_channels != cfg.latent_channels:
        raise FashionFlowConfigError(
            f"the VAE makes {vae.config.latent_channels}-channel latents but the model was built for "
            f"latent_channels={cfg.latent_channels}"
        )
    if cfg.conditioning != "local":
        vision = image_encoder.config
        tokens = (vision.image_size // vision.patch_size) ** 2 + 1
        if (tokens, vision.hidden_size) != (cfg.clip_tokens, cfg.clip_dim):
            raise FashionFlowConfigError(
                f"the CLIP encoder gives {tokens} tokens of {vision.hidden_size} but the model was built for "
                f"clip_tokens={cfg.clip_tokens}, clip_dim={cfg.clip_dim}"
            )
    if interpolator is not None:
        _check_model(interpolator, "interpolator", "interpolation")
        icfg = interpolator.config
        for key in ("latent_channels", "sample_size", "clip_tokens", "clip_dim"):
            if list(np.atleast_1d(icfg[key])) != list(np.atleast_1d(cfg[key])):
                raise FashionFlowConfigError(
                    f"interpolator has {key}={icfg[key]} but the keyframe model has {key}={cfg[key]}"
                )


class FashionFlowPipeline(DiffusionPipeline):
    """Image-to-video with FashionFlow. Components: `unet` (the keyframe FashionFlowModel), `vae`,
    `image_encoder` + `feature_extractor` (CLIP vision tower and its processor), `scheduler` (any of
    DDPM / DDIM / DPM-Solver++; see `schedule.switch_sampler`), optional `interpolator` (a
    stage="interpolation" FashionFlowModel that doubles the frame rate)."""

    model_cpu_offload_seq = "image_encoder->vae->unet->interpolator"
    _optional_components = ["interpolator"]

    def __init__(
        self,
        unet: FashionFlowModel,
        vae: AutoencoderKL,
        image_encoder: CLIPVisionModel,
        feature_extractor: CLIPImageProcessor,
        scheduler: SchedulerMixin,
        interpolator: FashionFlowModel | None = None,
    ):
        super().__init__()
        check_components(unet, vae, image_encoder, interpolator)
        self.register_modules(
            unet=unet,
            vae=vae,
            image_encoder=image_encoder,
            feature_extractor=feature_extractor,
            scheduler=scheduler,
            interpolator=interpolator,
        )
        self.video_processor = VideoProcessor(do_resize=False, vae_scale_factor=self.vae_scale_factor)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) in pixels of the videos this pipeline makes."""
        h, w = self.unet.config.sample_size
        return h * self.vae_scale_factor, w * self.vae_scale_factor

    def prepare_images(self, image: ImageInput | list[ImageInput]) -> np.ndarray:
        """Any image(s) -> uint8 (B, H, W, 3) at the model's frame size (resize to cover, centre-crop)."""
        images = image if isinstance(image, list) else [image]
        height, width = self.frame_size
        return np.stack([fit_image(load_image(img), height, width) for img in images])

    def encode_condition(self, pixels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 (B, H, W, 3) -> cond_latent (B, 4, h, w), clip_tokens (B, T, D) (None for local-only)."""
        from ffbench.encoders import clip_image_tokens, frames_to_tensor, vae_encode

        device, dtype = self._execution_device, self.unet.dtype
        video = frames_to_tensor(pixels[:, None])  # (B, 3, 1, H, W) in [-1, 1]
        cond = vae_encode(self.vae, video)[:, :, 0].to(device, dtype)
        clip = None
        if self.unet.uses_global:
            clip = clip_image_tokens(self.image_encoder, self.feature_extractor, pixels).to(device, dtype)
        return cond, clip

    def decode(self, latents: torch.Tensor, chunk_size: int) -> torch.Tensor:
        """(B, 4, F, h, w) -> (B, 3, F, H, W) in [-1, 1]."""
        from ffbench.encoders import vae_decode

        return vae_decode(self.vae, latents.float(), chunk_size)

    def _interpolate(
        self,
        keyframes: torch.Tensor,
        keyframe_pixels: torch.Tensor,
        cond: torch.Tensor,
        clip: torch.Tensor | None,
        steps: int,
        generator: torch.Generator | None,
        guidance_scale: float,
        decode_chunk_size: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fill the frames between keyframes: -> (latents (B, 4, 2K-1, h, w), pixels (B, 3, 2K-1, H, W))."""
        from ffbench.datasets.clips import area_downsample
        from ffbench.encoders import tensor_to_frames

        if self.interpolator is None:
            raise ValueError(
                "interpolate=True needs a pipeline with an interpolator; load one with "
                "FashionFlowPipeline.from_pretrained(dir, interpolator=FashionFlowModel...)"
            )
        # the same uint8 area-downsampling the shards cache as `lowres`, so training and sampling agree
        frames = tensor_to_frames(keyframe_pixels)  # (B, K, H, W, 3)
        lowres = np.stack([area_downsample(clip_frames, self.vae_scale_factor) for clip_frames in frames])
        lowres = (
            torch.from_numpy(lowres).float().div(127.5).sub(1.0).permute(0, 2, 1, 3, 4)
        )  # (B, 3, K, h, w)
        k = keyframes.shape[2]
        windows = [
            w
            for w in interpolation_windows(2 * k - 1, self.interpolator.config.num_frames)
            if w[1] - w[0] > 1
        ]
        with self.progress_bar(total=steps * len(windows)) as bar:
            latents = sample_interpolation(
                self.interpolator,
                self.scheduler,
                keyframes,
                lowres.to(keyframes.device, keyframes.dtype),
                cond,
                clip,
                steps,
                generator,
                guidance_scale,
                on_step=bar.update,
            )
        between = self.decode(latents[:, :, 1::2], decode_chunk_size)
        b, c, _, height, width = keyframe_pixels.shape
        pixels = keyframe_pixels.new_empty(b, c, 2 * k - 1, height, width)
        pixels[:, :, 0::2], pixels[:, :, 1::2] = keyframe_pixels, between
        return latents, pixels

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput | list[ImageInput],
        num_frames: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float = 1.0,
        generator: torch.Generator | None = None,
        decode_chunk_size: int = 8,
        output_type: str = "pil",
        interpolate: bool = False,
        return_dict: bool = True,
    ) -> FashionFlowPipelineOutput | tuple:
        """Generate a video from `image` (path, PIL image or uint8 array, or a list of them for a batch).

        Args:
            num_frames: frames to sample jointly (default: the model's training clip length). With
                `interpolate`, the result has 2 * num_frames - 1 frames at twice the frame rate.
            num_inference_steps: scheduler steps (1000 with DDPM is the paper's sampler; default: the
                scheduler's kind's default, `schedule.DEFAULT_STEPS`, e.g. 50 for dpmpp-sde).
            guidance_scale: classifier-free guidance weight; > 1 runs an unconditional pass as well
                (meaningful only for a model trained with condition dropout).
            decode_chunk_size: frames decoded by the VAE at once (bounds memory).
            output_type: "pil", "np", "pt" or "latent".
        Returns: FashionFlowPipelineOutput with `.frames`.
        """
        if output_type not in ("pil", "np", "pt", "latent"):
            raise ValueError(f"output_type={output_type!r}; choose pil, np, pt or latent")
        num_frames = num_frames or self.unet.config.num_frames
        if num_inference_steps is None:
            try:
                num_inference_steps = default_steps(sampler_kind(self.scheduler))
            except ValueError:  # a scheduler the user brought: the fast samplers' usual step count
                num_inference_steps = 50
        pixels = self.prepare_images(image)
        cond, clip = self.encode_condition(pixels)
        with self.progress_bar(total=num_inference_steps) as bar:
            latents = sample_keyframes(
                self.unet,
                self.scheduler,
                cond,
                clip,
                num_frames,
                num_inference_steps,
                generator,
                guidance_scale,
                on_step=bar.update,
            )
        video = None
        if interpolate:
            video = self.decode(latents, decode_chunk_size)
            latents, video = self._interpolate(
                latents, video, cond, clip, num_inference_steps, generator, guidance_scale, decode_chunk_size
            )
        if output_type == "latent":
            frames = latents
        else:
            video = self.decode(latents, decode_chunk_size) if video is None else video
            frames = self.video_processor.postprocess_video(video, output_type=output_type)
        self.maybe_free_model_hooks()
        return FashionFlowPipelineOutput(frames=frames) if return_dict else (frames,)


# Saved pipelines record the class's module; keep the public path (see model.py).
FashionFlowPipeline.__module__ = "ffbench.models.fashionflow"
