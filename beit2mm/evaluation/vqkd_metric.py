"""Validation metric of the VQ-KD tokenizer: reconstruction cosine and exact
codebook usage over the whole val set."""
from typing import Optional, Sequence

import numpy as np
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

    Args:
        num_codes: codebook size K.
    """
    default_prefix = 'vqkd'

    def __init__(self, num_codes: int, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_codes = num_codes

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            tokens = sample['tokens']
            result = dict(tokens=tokens.cpu().numpy().astype(np.int32).ravel())
            if 'rec_cos' in sample:
                result['rec_cos'] = float(sample['rec_cos'])
            self.results.append(result)

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
