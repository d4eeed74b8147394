"""Pretrained encoders of a preset (Swin from timm, CLIP from open_clip) in a local folder with a manifest.

``vatex fetch-encoders --preset paper`` is the one place anything is downloaded: :func:`fetch_encoders`
asks timm and open_clip for their published weights through their own loading mechanisms (the Hugging
Face hub, as each library names it), writes them into ``<folder>/<preset>/`` and records a manifest::

    <folder>/<preset>/encoders.json       {"preset", "fetched", "files": {"backbone": {...}, "clip": {...}}}
    <folder>/<preset>/backbone.safetensors    timm Swin state dict, classifier removed
    <folder>/<preset>/clip.<ext>               the open_clip file as published

Each file entry holds ``file``, ``source`` (library:name), ``library``, ``library_version``, ``bytes``
and ``sha256``. :func:`fetched_encoders` finds and verifies them again, with no network: a training
config names them with ``model.backbone_checkpoint: fetched`` / ``model.clip_checkpoint: fetched``.
The folder is ``$VATEX_ENCODERS`` if set, else ``~/.cache/vatex/encoders``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import huggingface_hub
import open_clip
import safetensors.torch
import timm

from vatex_core.backbone import Backbone
from vatex_core.clip_model import build_clip
from vatex_core.config import preset as preset_config
from vatex_core.weights import sha256

logger = logging.getLogger(__name__)

MANIFEST_NAME = "encoders.json"
ENV_FOLDER = "VATEX_ENCODERS"
FETCHED = "fetched"  # the value of a config's checkpoint field that means "the fetched encoders"


@dataclass(frozen=True)
class EncoderSources:
    """Where the published weights of a preset's encoders come from (names as timm and open_clip spell them)."""

    timm_tag: str  # pretrained tag of the preset's timm architecture, e.g. "ms_in22k"
    clip_model: str  # open_clip model name, e.g. "ViT-B-16"
    clip_pretrained: str  # open_clip pretrained tag, e.g. "openai"


# The paper's encoders: Swin-B ImageNet-22k at 384 (as Mask2Former starts from) and OpenAI's CLIP ViT-B/16.
# The tiny preset has none: its CLIP is trained here (`vatex pretrain-clip`), its Swin from scratch.
SOURCES: dict[str, EncoderSources] = {
    "paper": EncoderSources(timm_tag="ms_in22k", clip_model="ViT-B-16", clip_pretrained="openai"),
}


class EncoderFetchError(OSError):
    """A download failed (offline, hub refused, file unusable); the message says which and what to do."""


@dataclass(frozen=True)
class EncoderFiles:
    """The fetched encoder files of one preset, verified against their manifest."""

    backbone: Path  # timm Swin weights, loads with Backbone(cfg, str(path))
    clip: Path  # open_clip weights, loads with build_clip(cfg, path)
    manifest: dict


def default_folder() -> Path:
    """``$VATEX_ENCODERS`` if set, else ``~/.cache/vatex/encoders``."""
    configured = os.environ.get(ENV_FOLDER)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "vatex" / "encoders"


def fetch_encoders(preset: str, folder: str | Path | None = None) -> dict:
    """Downloads the preset's pretrained encoders through timm and open_clip into ``folder/preset``.

    Both files are loaded into the preset's encoders before the manifest is written, so a manifest
    only ever names files that fit. Existing files of the folder are replaced.

    Args:
        preset: a preset with published encoders (``SOURCES``; today ``paper``).
        folder: parent folder; None = :func:`default_folder`.

    Returns:
        The manifest written to ``folder/preset/encoders.json``.

    Raises:
        ValueError: the preset has no published encoders.
        EncoderFetchError: a download failed or the file does not fit the preset.
    """
    if preset not in SOURCES:
        raise ValueError(f"preset {preset!r} has no published encoders to fetch (those with: {', '.join(SOURCES)}); "
                         f"the tiny preset's CLIP is trained here with `vatex pretrain-clip`")
    sources = SOURCES[preset]
    cfg = preset_config(preset)
    check_hub_reachable()
    target = Path(folder or default_folder()) / preset
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".download-") as cache:
        backbone = _fetch_backbone(cfg.backbone, sources.timm_tag, Path(cache), target)
        clip = _fetch_clip(cfg.clip, sources, Path(cache), target)
    manifest = {
        "preset": preset,
        "fetched": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": {"backbone": backbone, "clip": clip},
    }
    _write_json(target / MANIFEST_NAME, manifest)
    logger.info("encoders of preset %s in %s", preset, target)
    return manifest


def check_hub_reachable(timeout: float = 5.0) -> None:
    """Fails fast, in one line, where the hub both libraries download from cannot be reached.

    Without it an offline machine waits about a minute through the hub client's retries first.

    Raises:
        EncoderFetchError: ``HF_HUB_OFFLINE`` is set, or no TCP connection to the hub's host in ``timeout`` s.
    """
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        raise EncoderFetchError("HF_HUB_OFFLINE is set: fetch-encoders downloads, unset it on a machine online")
    endpoint = urlparse(huggingface_hub.constants.ENDPOINT)  # honours HF_ENDPOINT (a mirror)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError as err:
        raise EncoderFetchError(f"cannot reach {endpoint.hostname}:{port} ({err}); fetch-encoders needs the internet; "
                                f"elsewhere, fetch on a machine online and copy its {ENV_FOLDER} folder here"
                                ) from None


def fetched_encoders(preset: str, folder: str | Path | None = None, verify: bool = True) -> EncoderFiles:
    """The encoders :func:`fetch_encoders` wrote for ``preset`` (no network).

    Args:
        preset: preset name.
        folder: parent folder; None = :func:`default_folder`.
        verify: check each file's SHA-256 against the manifest (a few seconds for the paper's ~1 GB).

    Raises:
        FileNotFoundError: nothing fetched for this preset (the message gives the command), or a file is gone.
        ValueError: the manifest is unreadable, of another preset, or a file's SHA-256 differs.
    """
    target = Path(folder or default_folder()) / preset
    manifest_path = target / MANIFEST_NAME
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no fetched encoders of preset {preset!r} in {target} (no {MANIFEST_NAME}); run "
                                f"`vatex fetch-encoders --preset {preset}` "
                                f"(or set ${ENV_FOLDER} to the folder holding them)")
    try:
        manifest = json.loads(manifest_path.read_text())
        entries = {name: manifest["files"][name] for name in ("backbone", "clip")}
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{manifest_path}: not an encoders manifest ({type(err).__name__}: {err})") from None
    if manifest.get("preset") != preset:
        raise ValueError(f"{manifest_path} lists encoders of preset {manifest.get('preset')!r}, not {preset!r}")
    paths = {}
    for name, entry in entries.items():
        path = target / entry["file"]
        if not path.is_file():
            raise FileNotFoundError(f"{path} named in {manifest_path} is missing; run `vatex fetch-encoders "
                                    f"--preset {preset}` again")
        if verify and sha256(path) != entry["sha256"]:
            raise ValueError(f"{path} is damaged or replaced: its SHA-256 is not the one in {manifest_path}; "
                             f"run `vatex fetch-encoders --preset {preset}` again")
        paths[name] = path
    return EncoderFiles(backbone=paths["backbone"], clip=paths["clip"], manifest=manifest)


def _fetch_backbone(cfg, tag: str, cache: Path, target: Path) -> dict:
    """timm's pretrained Swin (its hub download, into ``cache``), saved without classifier as safetensors."""
    source = f"{cfg.timm_name}.{tag}"
    overrides = {key: value for key, value in (("embed_dim", cfg.embed_dim), ("depths", cfg.depths),
                                               ("num_heads", cfg.num_heads), ("window_size", cfg.window_size))
                 if value is not None}
    logger.info("fetching %s through timm %s", source, timm.__version__)
    try:
        model = timm.create_model(source, pretrained=True, num_classes=0, cache_dir=cache, **overrides)
    except Exception as err:  # noqa: BLE001 - whatever the hub client raises (offline, HTTP, missing file)
        raise EncoderFetchError(_download_failed(f"timm {source}", err)) from None
    path = target / "backbone.safetensors"
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    safetensors.torch.save_file(state, str(path), metadata={"source": f"timm:{source}"})
    _check_fits(lambda: Backbone(cfg, str(path)), path, source)
    return _entry(path, f"timm:{source}", "timm", timm.__version__)


def _fetch_clip(cfg, sources: EncoderSources, cache: Path, target: Path) -> dict:
    """open_clip's published file for (model, pretrained tag), downloaded by open_clip into ``cache``, moved to
    ``target``."""
    source = f"{sources.clip_model}/{sources.clip_pretrained}"
    pretrained_cfg = open_clip.get_pretrained_cfg(sources.clip_model, sources.clip_pretrained)
    if not pretrained_cfg:
        raise EncoderFetchError(f"open_clip {open_clip.__version__} knows no pretrained {source}")
    logger.info("fetching %s through open_clip %s", source, open_clip.__version__)
    try:
        downloaded = Path(open_clip.download_pretrained(pretrained_cfg, cache_dir=str(cache))).resolve()
    except Exception as err:  # noqa: BLE001 - whatever the hub client raises (offline, HTTP, missing file)
        raise EncoderFetchError(_download_failed(f"open_clip {source}", err)) from None
    if not downloaded.is_file():
        raise EncoderFetchError(f"open_clip {source}: the download gave no file ({downloaded})")
    suffix = ".safetensors" if downloaded.suffix == ".safetensors" else downloaded.suffix or ".bin"
    path = target / f"clip{suffix}"
    shutil.move(downloaded, path)
    _check_fits(lambda: build_clip(cfg, path), path, source)
    return _entry(path, f"open_clip:{source}", "open_clip", open_clip.__version__)


def _check_fits(build, path: Path, source: str) -> None:
    """Loads a fetched file into the preset's encoder; a file that does not fit is removed and reported."""
    try:
        build()
    except (RuntimeError, KeyError, ValueError) as err:
        path.unlink(missing_ok=True)
        raise EncoderFetchError(f"{source} does not fit the preset's encoder: {' '.join(str(err).split())[:300]}"
                                ) from None


def _entry(path: Path, source: str, library: str, version: str) -> dict:
    return {"file": path.name, "source": source, "library": library, "library_version": version,
            "bytes": path.stat().st_size, "sha256": sha256(path)}


def _download_failed(what: str, err: Exception) -> str:
    reason = " ".join(str(err).split())[:200] or type(err).__name__
    return (f"could not download {what} ({type(err).__name__}: {reason}); fetch-encoders needs the internet "
            f"(huggingface.co); elsewhere, copy a fetched {ENV_FOLDER} folder here instead")


def _write_json(path: Path, document: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, path)
