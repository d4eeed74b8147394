"""Text encoder: CLIP's text tower gives word features (FFN-projected to C) and sentence embeddings.

Word features feed the CMD; the sentence embedding (CLIP's projected EOT token) of the prompt
"a photo of {main noun phrase}" feeds the CLIP Prior. The vision-aware sentence feature used by
MCC and the query initialisation is the mean of the CMD's word features (paper eq. 5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vatex_core.config import ClipConfig, HeadConfig
from vatex_core.layers import MLP


@dataclass
class TextFeatures:
    """Encoded expressions. Row i of every field belongs to expression i."""

    tokens: torch.Tensor  # (B, L, C) word features, L = longest expression in the batch (SOT..EOT)
    padding_mask: torch.Tensor  # (B, L) bool, True where there is no token
    prompt: torch.Tensor  # (B, D) CLIP sentence embedding of "a photo of {main noun phrase}", unit norm
    motion: torch.Tensor  # (B, R) what the words ask of motion, one flag per ``motion_words.MOTION_REQUESTS``

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def index(self, rows: torch.Tensor | slice) -> TextFeatures:
        """The features of a subset of the expressions, in the given order."""
        return TextFeatures(self.tokens[rows], self.padding_mask[rows], self.prompt[rows], self.motion[rows])

    def padded(self, length: int) -> TextFeatures:
        """The features with L padded to ``length`` (zero words, marked as padding); same results, fixed shape."""
        extra = length - self.tokens.shape[1]
        if extra < 0:
            raise ValueError(f"cannot pad {self.tokens.shape[1]} words to {length}")
        if extra == 0:
            return self
        tokens = nn.functional.pad(self.tokens, (0, 0, 0, extra))  # (B, length, C)
        padding_mask = nn.functional.pad(self.padding_mask, (0, extra), value=True)  # (B, length)
        return TextFeatures(tokens, padding_mask, self.prompt, self.motion)

    @staticmethod
    def cat(features: list[TextFeatures]) -> TextFeatures:
        """Features of several encodings stacked row after row, padded to the longest (for batched inference)."""
        length = max(f.tokens.shape[1] for f in features)
        padded = [f.padded(length) for f in features]
        return TextFeatures(
            torch.cat([f.tokens for f in padded]),
            torch.cat([f.padding_mask for f in padded]),
            torch.cat([f.prompt for f in padded]),
            torch.cat([f.motion for f in padded]),
        )


class TextEncoder(nn.Module):
    """CLIP text tower + the FFN projection of its word features (text_width -> text_ffn_dim -> C)."""

    def __init__(self, clip_text: nn.Module, clip_cfg: ClipConfig, head_cfg: HeadConfig) -> None:
        super().__init__()
        self.clip = clip_text  # open_clip TextTransformer with output_tokens=True
        self.project = MLP(clip_cfg.text_width, head_cfg.text_ffn_dim, head_cfg.hidden_dim, num_layers=2)
        if clip_cfg.freeze_text:
            self.clip.requires_grad_(False)

    def encode_words(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids (B, context) -> words (B, L, C) and padding mask (B, L), L = longest expression."""
        _, hidden = self.clip(token_ids)  # (B, context, text_width), after the final LayerNorm
        lengths = token_ids.argmax(dim=-1) + 1  # the EOT id is the largest id: SOT..EOT inclusive
        length = int(lengths.max())
        # The text tower is causal, so cutting the padding after it changes no word's feature.
        hidden = hidden[:, :length]  # (B, L, text_width)
        padding_mask = torch.arange(length, device=token_ids.device)[None, :] >= lengths[:, None]  # (B, L)
        return self.project(hidden), padding_mask

    def encode_prompts(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Prompt token ids (B, context) -> (B, D) L2-normalised CLIP text embeddings."""
        pooled, _ = self.clip(token_ids)
        return nn.functional.normalize(pooled, dim=-1)
