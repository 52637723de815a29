from .vqkd_metric import VQKDMetric

__all__ = ['VQKDMetric']
