"""Computing only the outputs a loss reads: the masked-only last blocks.

BEiT v2's loss (eq. 3) reads the last backbone block and the last
aggregation block only at [CLS] and the masked patches. :class:`MaskedRows`,
built once per batch from the mask, says which rows those are; given to
:meth:`BEiTv2ViT.forward_features` and :meth:`BEiTv2Neck.forward`, it makes
their last block compute only these rows (every token stays a key and a
value: the same values and gradients as the full block, restricted to the
rows). This module is the one place that knows how.
"""
from functools import partial
from typing import NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F


def masked_query_index(mask: torch.Tensor) -> Optional[torch.Tensor]:
    """[CLS] and the masked patches of each image, as token positions.

    mask: (B, N) bool -> (B, 1 + Q) long (0 for [CLS], then the masked patch
    positions + 1 in increasing order), or None when the images do not all
    have the same number Q of masked patches. Row-major, so the masked rows
    of ``out[:, 1:].flatten(0, 1)`` come in the order of
    ``mask.flatten().nonzero()`` (``mask_index``).
    """
    counts = mask.sum(1)
    if mask.shape[0] == 0 or bool(counts.min() != counts.max()):
        return None
    B, q = mask.shape[0], int(counts[0])
    pos = mask.nonzero()[:, 1].view(B, q) + 1
    return torch.cat([pos.new_zeros(B, 1), pos], 1)


def gather_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x: (B, N, C); index: (B, Q) long -> (B, Q, C)."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def attention_rows(attn, x: torch.Tensor, rel_pos_bias: Optional[torch.Tensor],
                   index: torch.Tensor) -> torch.Tensor:
    """The rows ``index`` of ``attn(x, rel_pos_bias)``.

    attn: an :class:`Attention`; x: (B, N, C); rel_pos_bias: (H, N, N),
    (B, H, N, N) or None; index: (B, Q) long -> (B, Q, C). Only the Q rows
    are queries (keys and values are all N tokens): Q/N of the query,
    projection and attention FLOPs.
    """
    B, N, C = x.shape
    w_q, w_kv = attn.qkv.weight.split((C, 2 * C))
    q_bias, k_bias, v_bias = attn.qkv_biases()
    q = F.linear(gather_rows(x, index), w_q, q_bias).reshape(
        B, -1, attn.num_heads, attn.head_dim).transpose(1, 2)
    kv_bias = None if q_bias is None else torch.cat((k_bias, v_bias))
    kv = F.linear(x, w_kv, kv_bias).reshape(B, N, 2, attn.num_heads,
                                            attn.head_dim)
    k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, N, D)
    if rel_pos_bias is not None:  # the rows of the queries
        if rel_pos_bias.dim() == 3:
            rel_pos_bias = rel_pos_bias.unsqueeze(0).expand(B, -1, -1, -1)
        idx = index[:, None, :, None].expand(-1, rel_pos_bias.shape[1], -1, N)
        rel_pos_bias = rel_pos_bias.gather(2, idx)  # (B, H, Q, N)
    return attn.attend(q, k, v, rel_pos_bias)


def block_rows(blk, x: torch.Tensor, rel_pos_bias: Optional[torch.Tensor],
               index: torch.Tensor) -> torch.Tensor:
    """The rows ``index`` of ``blk(x, rel_pos_bias)`` for a
    :class:`TransformerBlock`: x (B, N, C), index (B, Q) -> (B, Q, C); the
    MLP and residuals run on the Q rows only."""
    y = attention_rows(blk.attn, blk.norm1(x), blk.block_bias(rel_pos_bias),
                       index)
    return blk.residuals(gather_rows(x, index), y)


class MaskedRows(NamedTuple):
    """Where the masked patches of a batch are, and which outputs the last
    blocks compute.

    Attributes:
        mask_index: (M,) long, the flat positions of the masked patches in
            (B * N) (``mask.flatten().nonzero()``), M in total.
        query_index: (B, 1+Q) long from :func:`masked_query_index` ([CLS]
            and the Q masked patches of each image): the last blocks compute
            only these rows; None: they compute every output (uneven masks,
            or the plain path).
    """
    mask_index: torch.Tensor
    query_index: Optional[torch.Tensor] = None

    @classmethod
    def from_mask(cls, mask: torch.Tensor,
                  masked_only: bool = True) -> 'MaskedRows':
        """From a (B, N) bool mask; on a GPU this synchronises (the data
        preprocessor computes the same on the host)."""
        return cls(mask.flatten().nonzero().squeeze(1),
                   masked_query_index(mask) if masked_only else None)

    def last_block_rows_only(self, blocks: Sequence) -> list:
        """``blocks`` with the last one computing only ``query_index``
        (each entry a callable ``(x, rel_pos_bias)``)."""
        blocks = list(blocks)
        if self.query_index is not None and blocks:
            blocks[-1] = partial(block_rows, blocks[-1],
                                 index=self.query_index)
        return blocks

    def select(self, tokens: torch.Tensor) -> torch.Tensor:
        """The masked patch rows of a last block's output, in
        ``mask_index`` order: tokens (B, 1+N, C), or (B, 1+Q, C) when it
        computed only ``query_index`` -> (M, C)."""
        x = tokens[:, 1:].flatten(0, 1)
        if self.query_index is not None:
            return x
        return x.index_select(0, self.mask_index)
