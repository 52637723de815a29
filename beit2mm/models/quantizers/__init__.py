from .norm_ema_quantizer import (NormEMAQuantizer, QuantizerOutput,
                                 kmeans_cosine, l2norm, usage_from_counts)

__all__ = ['NormEMAQuantizer', 'QuantizerOutput', 'kmeans_cosine', 'l2norm',
           'usage_from_counts']
