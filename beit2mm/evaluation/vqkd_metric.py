"""Validation metric of the VQ-KD tokenizer: reconstruction cosine and exact
codebook usage over the whole val set."""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from beit2mm.registry import METRICS


@METRICS.register_module()
class VQKDMetric(BaseMetric):
    """Reads ``tokens`` (h, w) and ``rec_cos`` from the tokenizer's predict
    output (:meth:`VQKDTokenizer.predict`).

    Reports ``vqkd/rec_cos`` (mean over images of the mean token cosine
    between reconstruction and teacher), ``vqkd/codebook_usage`` (% of the
    ``num_codes`` codes that any val token uses; results of every rank are
    gathered first) and ``vqkd/perplexity`` of the val token histogram.

    :meth:`process` keeps each batch on its device (tokens and cosines packed
    into one (B, h*w + 1) int32 tensor, no host synchronisation); the first
    read of :attr:`results` (by :meth:`evaluate`) moves everything to the
    host in one transfer and splits it into the per-image results that
    mmengine gathers across ranks (and trims to the dataset size).

    Args:
        num_codes: codebook size K.
    """
    default_prefix = 'vqkd'

    def __init__(self, num_codes: int, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        self._pending: List[torch.Tensor] = []
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_codes = num_codes

    @property
    def results(self) -> list:
        """Per-image ``dict(tokens=(h*w,) int32 array[, rec_cos=float])``."""
        if self._pending:
            packed = torch.cat(self._pending).cpu().numpy()  # one transfer
            self._pending = []
            cos = packed[:, -1].view(np.float32)  # NaN: no rec_cos
            for row, c in zip(packed[:, :-1], cos):
                result = dict(tokens=row)
                if not np.isnan(c):
                    result['rec_cos'] = float(c)
                self._results.append(result)
        return self._results

    @results.setter
    def results(self, value: list) -> None:
        self._results = value

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        if not data_samples:
            return
        tokens = torch.stack([torch.as_tensor(s['tokens']).flatten()
                              for s in data_samples]).to(torch.int32)
        cos = torch.stack([
            torch.as_tensor(s['rec_cos'], dtype=torch.float32,
                            device=tokens.device).reshape(())
            if 'rec_cos' in s else
            torch.tensor(float('nan'), device=tokens.device)
            for s in data_samples])
        # the cosine's float32 bits ride along as one more int32 column
        self._pending.append(torch.cat(
            (tokens, cos.view(torch.int32)[:, None]), dim=1))

    def compute_metrics(self, results: list) -> dict:
        tokens = np.concatenate([r['tokens'] for r in results])
        if tokens.size and tokens.max() >= self.num_codes:
            raise ValueError(f'token id {tokens.max()} >= num_codes '
                             f'{self.num_codes}; set VQKDMetric num_codes to '
                             f'the tokenizer codebook size.')
        counts = np.bincount(tokens, minlength=self.num_codes)
        p = counts / max(counts.sum(), 1)
        nz = p[p > 0]
        metrics = dict(codebook_usage=float((counts > 0).mean() * 100),
                       perplexity=float(np.exp(-(nz * np.log(nz)).sum())))
        cos = [r['rec_cos'] for r in results if 'rec_cos' in r]
        if cos:
            metrics['rec_cos'] = float(np.mean(cos))
        return metrics
