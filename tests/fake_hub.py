"""A local stand-in for the Hugging Face hub behind timm's and open_clip's pretrained downloads.

No test reaches a model hub: :class:`FakeHub` replaces the ``hf_hub_download`` that each library calls
(``timm.models._hub`` and ``open_clip.pretrained``) with one serving files from a folder, and
:func:`block_network` makes any socket connection an error, so a download path that goes around the
fake fails the test instead of reaching the internet. :func:`tiny_encoder_files` writes encoders of the
``tiny`` preset's shapes in the layouts timm and open_clip publish, so the fetched files load into the
tiny model (whose real encoders are not published: the tests pose as if they were).
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import open_clip
import safetensors.torch
import timm
import timm.models._hub
import torch
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

import vatex_core.encoders
from vatex_core import preset
from vatex_core.encoders import EncoderSources

# The sources the tests give the tiny preset (names timm and open_clip know; the fake hub serves them).
TINY_SOURCES = EncoderSources(timm_tag="ms_in1k", clip_model="ViT-B-16", clip_pretrained="openai")
TIMM_REPO = "timm/swin_tiny_patch4_window7_224.ms_in1k"
CLIP_REPO = "timm/vit_base_patch16_clip_224.openai"


class FakeHub:
    """Serves ``(repo_id, filename)`` from local files; ``offline`` makes every request fail as without a network."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], Path] = {}
        self.requests: list[tuple[str, str]] = []
        self.offline = False

    def add(self, repo_id: str, filename: str, path: Path) -> None:
        self.files[(repo_id, filename)] = path

    def download(self, repo_id: str, filename: str, revision: str | None = None, cache_dir=None, **_) -> str:
        """Same contract as ``huggingface_hub.hf_hub_download``: a path inside ``cache_dir``."""
        self.requests.append((repo_id, filename))
        if self.offline:
            raise LocalEntryNotFoundError("Cannot reach https://huggingface.co: offline mode or no connection")
        if (repo_id, filename) not in self.files:
            raise EntryNotFoundError(f"404: {filename} not in {repo_id}")
        target = Path(cache_dir) / "fake-hub" / repo_id / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.files[(repo_id, filename)], target)
        return str(target)

    def install(self, monkeypatch) -> None:
        monkeypatch.setattr(timm.models._hub, "hf_hub_download", self.download)
        monkeypatch.setattr(open_clip.pretrained, "hf_hub_download", self.download)
        monkeypatch.setattr(vatex_core.encoders, "check_hub_reachable", self.check_reachable)

    def check_reachable(self) -> None:
        """Stands in for the connection probe of ``vatex_core.encoders`` (the fake hub is always there)."""


def block_network(monkeypatch) -> None:
    """Any socket connection (other than AF_UNIX) raises: a test cannot reach a hub by another route."""
    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family == socket.AF_UNIX:
            return real_connect(sock, address)
        raise OSError(f"network disabled in this test (connect to {address!r})")

    monkeypatch.setattr(socket.socket, "connect", connect)


def tiny_encoder_files(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Random encoders of the tiny preset's shapes, as the hub publishes them (timm safetensors, OpenAI-layout CLIP).

    Returns:
        {"backbone": safetensors file with the classifier, "clip": torch file of open_clip's plain CLIP}.
    """
    cfg = preset("tiny")
    torch.manual_seed(seed)
    swin = timm.create_model(cfg.backbone.timm_name, embed_dim=cfg.backbone.embed_dim, depths=cfg.backbone.depths,
                             num_heads=cfg.backbone.num_heads, window_size=cfg.backbone.window_size)
    clip_cfg = cfg.clip
    clip = open_clip.CLIP(
        embed_dim=clip_cfg.embed_dim,
        vision_cfg={"image_size": clip_cfg.image_size, "patch_size": clip_cfg.patch_size,
                    "width": clip_cfg.vision_width, "layers": clip_cfg.vision_layers,
                    "head_width": clip_cfg.vision_head_width, "pool_type": clip_cfg.vision_pool},
        text_cfg={"context_length": clip_cfg.context_length, "vocab_size": clip_cfg.vocab_size,
                  "width": clip_cfg.text_width, "heads": clip_cfg.text_heads, "layers": clip_cfg.text_layers},
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"backbone": folder / "model.safetensors", "clip": folder / "open_clip_pytorch_model.bin"}
    safetensors.torch.save_file({k: v.contiguous() for k, v in swin.state_dict().items()}, str(paths["backbone"]))
    torch.save(clip.state_dict(), paths["clip"])
    return paths


def serve_tiny_encoders(hub: FakeHub, folder: Path, seed: int = 0) -> dict[str, Path]:
    """Puts :func:`tiny_encoder_files` where timm and open_clip look for TINY_SOURCES."""
    paths = tiny_encoder_files(folder, seed)
    hub.add(TIMM_REPO, "model.safetensors", paths["backbone"])
    hub.add(CLIP_REPO, "open_clip_pytorch_model.bin", paths["clip"])
    return paths
