"""FashionFlowPipeline: one still image in, a video out, called like StableVideoDiffusionPipeline.

    pipe = FashionFlowPipeline.from_pretrained("runs/ff-cpu/pipeline")
    frames = pipe(image, num_frames=16, num_inference_steps=25, generator=g).frames[0]

Steps: fit the image to the model's frame size; encode it with the VAE (the latent that replaces frame
0 and feeds the adapter) and CLIP (global tokens); sample the latent clip with the scheduler; decode
frame by frame; optionally double the frame rate with the interpolation model.

`inference` picks how: "ffbench" (the corrected inputs, any sampler; the default for models ffbench
trains) or "official" (the public FashionFlow inference.py in every point, for the published weights,
which were trained with its inputs; `ffbench convert` saves converted checkpoints with it). Each point
checked against inference.py; official / ffbench, and why ffbench differs:
- image fit: stretched to the frame size, PIL bilinear / covered and centre-cropped, bicubic (no distortion).
- VAE input: [0, 1] / [-1, 1], the range the VAE was trained on (DESIGN.md point 2).
- latent: a posterior sample x the scaling factor (0.18215), frame 0 and the adapter two independent
  draws / the posterior mean, one latent for both (deterministic conditioning).
- CLIP input: the [0, 1] floats to the processor, which divides by 255 again / uint8 to the processor,
  so CLIP sees the image (DESIGN.md point 1).
- sampler: ancestral DDPM over all T = 1000 steps of the model's betas / any diffusers sampler
  (`--sampler`; default DPM-Solver++ SDE, 50 steps, within 0.05 dB of DDPM-1000).
- x0: never clipped / the implied x0 clipped to +-4 (`sampling.X0_CLIP`: an epsilon model's x0 explodes
  near t = T).
- precision: fp16 autocast of the U-Net on CUDA / the model's dtype.
- decode: the VAE output clamped to [0, 1] / clamped to [-1, 1] and mapped to [0, 1] (each its VAE range).
- length: 70 frames written at 25 fps / the model's training clip length and frame rate.
- written frames (by `ffbench generate`): truncated to uint8, as inference.py's `mul(255).byte()` / rounded.

What cannot match bit for bit: the noise (the public code never seeds; it draws the initial clip from
torch's global CPU generator and the posterior samples and step noise from the CUDA one; ffbench draws all
of them from the caller's `generator`, in the public order and layout: adapter sample, frame-0 sample,
initial clip, one draw per step t = 999..1); fp16 autocast exists only on CUDA, so a CPU run computes
in float32 and differs from a CUDA run; CLIP's resize is the installed transformers' (the public code
pins 4.36.2, whose processor converts float images to uint8 for its PIL resize).
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

from ffbench.images import ImageInput, fit_image, load_image, stretch_image, to_unit_float
from ffbench.models.fashionflow.model import FashionFlowConfigError, FashionFlowModel
from ffbench.models.fashionflow.sampling import (
    check_official_model,
    interpolation_windows,
    sample_interpolation,
    sample_keyframes,
    sample_keyframes_official,
)
from ffbench.models.fashionflow.schedule import default_steps, sampler_kind

INFERENCE_MODES = ("ffbench", "official")
OFFICIAL_NUM_FRAMES = 70  # inference.py's frameLimit
OFFICIAL_FPS = 25.0  # the frame rate inference.py writes its videos at


def check_inference(inference: object) -> str:
    """Return `inference` if it is one of INFERENCE_MODES, else raise ValueError naming it."""
    if inference not in INFERENCE_MODES:
        raise ValueError(
            f"inference={inference!r}; choose 'ffbench' (the corrected inputs, any sampler) or 'official' "
            "(the public FashionFlow inference, for the published weights)"
        )
    return inference


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
    stage="interpolation" FashionFlowModel that doubles the frame rate). `inference` ("ffbench" or
    "official", see the module docstring) is saved in model_index.json; a folder saved without it loads
    as "ffbench"."""

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
        inference: str = "ffbench",
    ):
        super().__init__()
        check_inference(inference)
        check_components(unet, vae, image_encoder, interpolator)
        self.register_modules(
            unet=unet,
            vae=vae,
            image_encoder=image_encoder,
            feature_extractor=feature_extractor,
            scheduler=scheduler,
            interpolator=interpolator,
        )
        self.register_to_config(inference=inference)
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
        from ffbench.encoders import pixels_to_signed, tensor_to_frames

        if self.interpolator is None:
            raise ValueError(
                "interpolate=True needs a pipeline with an interpolator; load one with "
                "FashionFlowPipeline.from_pretrained(dir, interpolator=FashionFlowModel...)"
            )
        # the same uint8 area-downsampling the shards cache as `lowres`, so training and sampling agree
        frames = tensor_to_frames(keyframe_pixels)  # (B, K, H, W, 3)
        lowres = np.stack([area_downsample(clip_frames, self.vae_scale_factor) for clip_frames in frames])
        lowres = (
            pixels_to_signed(lowres).permute(0, 2, 1, 3, 4)
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

    def prepare_images_official(self, image: ImageInput | list[ImageInput]) -> torch.Tensor:
        """Any image(s) -> float32 (B, 3, H, W) in [0, 1] at the frame size, stretched (PIL bilinear), as
        inference.py's Resize((640, 512)) + ToTensor."""
        images = image if isinstance(image, list) else [image]
        height, width = self.frame_size
        return to_unit_float(np.stack([stretch_image(load_image(img), height, width) for img in images]))

    def encode_condition_official(
        self, images: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """[0, 1] images (B, 3, H, W) -> (frame-0 latent, adapter latent, clip tokens or None), as
        inference.py: two independent VAE posterior draws of the [0, 1] image (the adapter's first), and
        CLIP given the [0, 1] floats through its processor (which divides by 255 once more)."""
        from ffbench.encoders import (
            clip_tokens_of_pixel_values,
            official_clip_pixel_values,
            vae_posterior_sample,
        )

        device = self._execution_device
        adapter_latent = vae_posterior_sample(self.vae, images, generator).to(device)
        first_latent = vae_posterior_sample(self.vae, images, generator).to(device)
        clip = None
        if self.unet.uses_global:
            pixels = official_clip_pixel_values(self.feature_extractor, images)
            clip = clip_tokens_of_pixel_values(self.image_encoder, pixels).to(device)
        return first_latent, adapter_latent, clip

    def decode_official(self, latents: torch.Tensor, chunk_size: int) -> torch.Tensor:
        """(B, 4, F, h, w) -> (B, 3, F, H, W) in [0, 1]: the VAE output clamped to [0, 1], as inference.py
        (its VAE input range was [0, 1])."""
        return self.decode(latents, chunk_size).clamp(0.0, 1.0)

    def _sample_official(
        self,
        image: ImageInput | list[ImageInput],
        num_frames: int | None,
        num_inference_steps: int | None,
        guidance_scale: float,
        generator: torch.Generator | None,
        interpolate: bool,
    ) -> torch.Tensor:
        """inference.py's sampling: -> latents (B, 4, F, h, w). Refuses what it has no counterpart for."""
        steps = int(self.scheduler.config.num_train_timesteps)
        how = "drop it or sample with inference='ffbench'"
        if num_inference_steps not in (None, steps):
            raise ValueError(f"num_inference_steps={num_inference_steps}: inference='official' takes every "
                             f"one of the {steps} DDPM steps; {how}")
        if guidance_scale != 1.0:
            raise ValueError(f"guidance_scale={guidance_scale}: inference='official' has no classifier-free "
                             f"guidance; {how}")
        if interpolate:
            raise ValueError(f"interpolate=True: inference='official' has no interpolation stage; {how}")
        check_official_model(self.unet)
        images = self.prepare_images_official(image)
        first, adapter_latent, clip = self.encode_condition_official(images, generator)
        with self.progress_bar(total=steps) as bar:
            return sample_keyframes_official(
                self.unet, self.scheduler, first, adapter_latent, clip, num_frames or OFFICIAL_NUM_FRAMES,
                generator, on_step=bar.update,
            )

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
        inference: str | None = None,
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
            inference: "ffbench" or "official" (default: the pipeline's `config.inference`). "official"
                runs the public inference.py (module docstring): num_frames defaults to its 70, the
                scheduler's betas drive DDPM over all its training steps (num_inference_steps, if given,
                must be that), and guidance and interpolation are refused.
        Returns: FashionFlowPipelineOutput with `.frames`.
        """
        if output_type not in ("pil", "np", "pt", "latent"):
            raise ValueError(f"output_type={output_type!r}; choose pil, np, pt or latent")
        inference = check_inference(self.config.inference if inference is None else inference)
        if inference == "official":
            latents = self._sample_official(image, num_frames, num_inference_steps, guidance_scale, generator,
                                            interpolate)
            if output_type == "latent":
                frames = latents
            else:  # postprocess_video maps [-1, 1] to [0, 1]
                video = self.decode_official(latents, decode_chunk_size) * 2.0 - 1.0
                frames = self.video_processor.postprocess_video(video, output_type=output_type)
            self.maybe_free_model_hooks()
            return FashionFlowPipelineOutput(frames=frames) if return_dict else (frames,)
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
