"""The VQ-KD quantizer: l2-normalised codebook updated by an EMA (BEiT v2,
Sec. 2.2, eq. 1-2).

Every step reads like the paper:

* lookup    ``z_i = argmax_j  l2(h_i) . l2(v_j)``  (eq. 1; one matmul)
* commit    ``|| sg[l2(v_z)] - l2(h) ||^2``  (the commitment half of eq. 2)
* EMA       ``v_j <- l2( d v_j + (1 - d) l2(mean of h assigned to j) )``
            (replaces the codebook half of eq. 2; codes with no assignment
            keep their value)

Distributed training: the per-code counts and sums are all-reduced before the
EMA, so every rank applies the same update to the same codebook; the k-means
initialisation runs on rank 0 and is broadcast, so all ranks start from the
same codebook (the official code starts each rank from its own k-means).
"""
from typing import Dict, NamedTuple

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from beit2mm.registry import MODELS


def l2norm(x: torch.Tensor) -> torch.Tensor:
    """Unit vectors along the last dim."""
    return F.normalize(x, p=2, dim=-1)


def _dist_on() -> bool:
    return dist.is_available() and dist.is_initialized() \
        and dist.get_world_size() > 1


def kmeans_cosine(samples: torch.Tensor, num_codes: int,
                  iters: int = 10) -> (torch.Tensor, torch.Tensor):
    """Spherical k-means: centroids are l2-normalised means, assignment by
    largest dot product. Empty clusters keep their previous centroid.

    samples: (N, d) unit vectors -> (centroids (K, d), counts (K,)).
    """
    n = samples.shape[0]
    if n >= num_codes:
        idx = torch.randperm(n, device=samples.device)[:num_codes]
    else:
        idx = torch.randint(0, n, (num_codes,), device=samples.device)
    means = samples[idx].clone()
    counts = torch.zeros(num_codes, device=samples.device)
    for _ in range(iters):
        assign = (samples @ means.t()).argmax(-1)  # (N,)
        counts = torch.bincount(assign, minlength=num_codes).to(samples.dtype)
        sums = torch.zeros_like(means).index_add_(0, assign, samples)
        means = torch.where(counts[:, None] > 0, l2norm(sums), means)
    return means, counts


class QuantizerOutput(NamedTuple):
    """z_q: straight-through codes (..., d); ids: (...) long;
    loss_commit: scalar commitment loss (already weighted)."""
    z_q: torch.Tensor
    ids: torch.Tensor
    loss_commit: torch.Tensor


@MODELS.register_module()
class NormEMAQuantizer(nn.Module):
    """Vector quantizer with an l2-normalised, EMA-updated codebook.

    The codebook and its EMA state are buffers (no gradient, not in the
    optimizer, saved and restored with the model): ``codebook`` (K, d),
    ``cluster_size`` (K,) EMA of the per-code counts, ``embed_avg`` (K, d) EMA
    of the per-code sums, ``initted`` (k-means done). ``usage_counts`` (K,) is
    a non-persistent accumulator of all-reduced assignment counts that
    :class:`~beit2mm.engine.hooks.CodebookUsageHook` reads and resets each
    logging interval (so no host sync happens per step).

    Args:
        num_codes: codebook size K (paper: 8192).
        code_dim: code dimension d (paper: 32).
        decay: EMA decay (paper: 0.99).
        commitment_weight: weight of the commitment term (paper: 1).
        kmeans_init: initialise the codebook by spherical k-means on the first
            training batch (paper: yes).
        kmeans_iters: k-means iterations (paper: 10).
        dead_code_threshold: 0 disables (the paper's setting). Otherwise a
            code whose EMA count (assignments per step, all ranks) falls
            below it is restarted at a random encoder output of the current
            batch, and its EMA state is reset (count = the threshold, sum =
            count x the new code), so a restarted code that still gets no
            assignment is re-drawn at the next step.
        frozen: start in frozen mode (see :meth:`freeze`).
    """

    def __init__(self,
                 num_codes: int = 8192,
                 code_dim: int = 32,
                 decay: float = 0.99,
                 commitment_weight: float = 1.0,
                 kmeans_init: bool = True,
                 kmeans_iters: int = 10,
                 dead_code_threshold: float = 0.,
                 frozen: bool = False):
        super().__init__()
        if num_codes < 2 or code_dim < 1:
            raise ValueError(f'num_codes ({num_codes}) must be >= 2 and '
                             f'code_dim ({code_dim}) >= 1.')
        if not 0. < decay < 1.:
            raise ValueError(f'decay must be in (0, 1), got {decay}; the '
                             f'paper uses 0.99.')
        if dead_code_threshold < 0:
            raise ValueError(f'dead_code_threshold must be >= 0 (0 = off), '
                             f'got {dead_code_threshold}.')
        self.num_codes = num_codes
        self.code_dim = code_dim
        self.decay = decay
        self.commitment_weight = commitment_weight
        self.kmeans_iters = kmeans_iters
        self.dead_code_threshold = dead_code_threshold
        codes = l2norm(torch.randn(num_codes, code_dim))
        self.register_buffer('codebook', codes)
        self.register_buffer('cluster_size', torch.zeros(num_codes))
        self.register_buffer('embed_avg', codes.clone())
        self.register_buffer('initted', torch.tensor(not kmeans_init))
        self.register_buffer('usage_counts', torch.zeros(num_codes),
                             persistent=False)
        # Host-side mirror of ``initted`` so the forward never syncs on it.
        self._initted = not kmeans_init
        self.frozen = False
        if frozen:
            self.freeze()

    # ------------------------------------------------------------ modes
    def freeze(self) -> 'NormEMAQuantizer':
        """Frozen mode, for use as a pretraining target: no EMA, no k-means,
        no collectives, no usage accumulation, whatever ``train()`` says."""
        self.frozen = True
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._initted = bool(self.initted)  # once, at load time

    # ------------------------------------------------------------ stages
    def lookup(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest code by cosine (eq. 1). z: (..., d) unit -> ids (...)."""
        return (z @ self.codebook.t()).argmax(-1)

    def ids(self, z: torch.Tensor) -> torch.Tensor:
        """Token ids only (eq. 1 in fp32; no codes, loss, EMA or k-means):
        the inference path of :meth:`forward`. z: (..., d) -> ids (...)."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            return self.lookup(l2norm(z.float()))

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Codes of ids. ids: (...) -> (..., d) unit vectors."""
        return F.embedding(ids, self.codebook)

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        """Quantize encoder outputs (fp32 even under autocast).

        z: (..., d) -> QuantizerOutput(z_q (..., d), ids (...), loss_commit).
        """
        if z.shape[-1] != self.code_dim:
            raise ValueError(f'expected last dim {self.code_dim}, got shape '
                             f'{tuple(z.shape)}.')
        with torch.autocast(device_type=z.device.type, enabled=False):
            z = l2norm(z.float())
            flat = z.reshape(-1, self.code_dim)
            update = self.training and not self.frozen
            if update and not self._initted:
                self.kmeans_init(flat.detach())
            ids = self.lookup(flat)
            codes = self.embed(ids).view_as(z)
            loss_commit = self.commitment_weight * F.mse_loss(
                codes.detach(), z)
            if update:
                self.ema_update(flat.detach(), ids)
            z_q = z + (codes - z).detach()  # straight-through
        return QuantizerOutput(z_q, ids.view(z.shape[:-1]), loss_commit)

    @torch.no_grad()
    def kmeans_init(self, flat: torch.Tensor) -> None:
        """Spherical k-means on rank 0's batch, broadcast to every rank.

        flat: (N, d) unit vectors of this rank's batch.
        """
        means, counts = kmeans_cosine(flat, self.num_codes, self.kmeans_iters)
        self.codebook.copy_(means)
        self.embed_avg.copy_(means)
        self.cluster_size.copy_(counts)
        if _dist_on():
            for buf in (self.codebook, self.embed_avg, self.cluster_size):
                dist.broadcast(buf, src=0)
        self.initted.fill_(True)
        self._initted = True

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, ids: torch.Tensor) -> None:
        """One EMA step with all-reduced counts and sums.

        flat: (N, d) unit vectors; ids: (N,) their codes.
        """
        bins = torch.bincount(ids, minlength=self.num_codes).to(flat.dtype)
        sums = torch.zeros_like(self.codebook).index_add_(0, ids, flat)
        if _dist_on():
            dist.all_reduce(bins)
            dist.all_reduce(sums)
        d = self.decay
        self.cluster_size.mul_(d).add_(bins, alpha=1 - d)
        self.embed_avg.mul_(d).add_(sums, alpha=1 - d)
        # l2(sum) = l2(mean); codes with no assignment keep their value
        # exactly (not just up to the rounding of re-normalising them).
        moved = l2norm(self.codebook * d + l2norm(sums) * (1 - d))
        self.codebook.copy_(torch.where(bins[:, None] > 0, moved,
                                        self.codebook))
        self.usage_counts.add_(bins)
        if self.dead_code_threshold > 0:
            self.restart_dead_codes(flat)

    @torch.no_grad()
    def restart_dead_codes(self, flat: torch.Tensor) -> None:
        """Move codes whose EMA count is below the threshold to random
        encoder outputs and reset their EMA state (rank 0 picks, all ranks
        receive). flat: (N, d)."""
        dead = self.cluster_size < self.dead_code_threshold  # (K,)
        pick = torch.randint(0, flat.shape[0], (self.num_codes,),
                             device=flat.device)
        new = flat[pick]
        self.codebook.copy_(torch.where(dead[:, None], new, self.codebook))
        thr = self.dead_code_threshold
        self.embed_avg.copy_(
            torch.where(dead[:, None], new * thr, self.embed_avg))
        self.cluster_size.masked_fill_(dead, thr)
        if _dist_on():
            for buf in (self.codebook, self.embed_avg, self.cluster_size):
                dist.broadcast(buf, src=0)

    # ------------------------------------------------------------ stats
    @torch.no_grad()
    def usage_stats(self, reset: bool = True) -> Dict[str, torch.Tensor]:
        """Codebook usage (% of codes assigned at least once) and perplexity
        of the accumulated (all-reduced) assignments, as 0-dim tensors."""
        stats = usage_from_counts(self.usage_counts)
        if reset:
            self.usage_counts.zero_()
        return stats

    def extra_repr(self) -> str:
        return (f'num_codes={self.num_codes}, code_dim={self.code_dim}, '
                f'decay={self.decay}, frozen={self.frozen}')


def usage_from_counts(counts: torch.Tensor) -> Dict[str, torch.Tensor]:
    """counts: (K,) -> {'codebook_usage': % of codes with count > 0,
    'perplexity': exp(entropy of counts / sum)} (0-dim tensors)."""
    counts = counts.float()
    p = counts / counts.sum().clamp(min=1e-12)
    entropy = -(p * torch.log(p.clamp(min=1e-12))).sum()
    return dict(codebook_usage=(counts > 0).float().mean() * 100,
                perplexity=entropy.exp())
