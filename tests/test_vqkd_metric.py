"""VQKDMetric keeps batches on the device (no host sync per sample) and
reports the same numbers as a per-image computation."""
import numpy as np
import pytest
import torch

from beit2mm.evaluation import VQKDMetric


def _samples(n, seed, with_cos=True):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 16, (n, 2, 3), generator=g)
    cos = torch.rand(n, generator=g) * 2 - 1
    out = []
    for i in range(n):
        s = dict(tokens=ids[i])
        if with_cos:
            s['rec_cos'] = cos[i]
        out.append(s)
    return out


def test_process_never_reads_device_values(monkeypatch):
    metric = VQKDMetric(num_codes=16)
    batches = [_samples(3, 0), _samples(2, 1)]

    def forbidden(*args, **kwargs):
        raise AssertionError('host transfer in process()')

    for name in ('cpu', 'numpy', 'item', 'tolist', '__float__', '__int__'):
        monkeypatch.setattr(torch.Tensor, name, forbidden)
    for b in batches:
        metric.process(None, b)
    monkeypatch.undo()
    res = metric.evaluate(size=4)  # mmengine trims to the dataset size
    flat = [s for b in batches for s in b][:4]
    tokens = torch.stack([s['tokens'] for s in flat]).flatten()
    counts = np.bincount(tokens.numpy(), minlength=16)
    p = counts[counts > 0] / counts.sum()
    assert res['vqkd/codebook_usage'] == pytest.approx(
        (counts > 0).mean() * 100)
    assert res['vqkd/perplexity'] == pytest.approx(
        float(np.exp(-(p * np.log(p)).sum())))
    cos = torch.stack([s['rec_cos'] for s in flat]).mean()
    assert res['vqkd/rec_cos'] == pytest.approx(float(cos), abs=1e-6)
    assert metric.results == []  # reset for the next evaluation


def test_per_image_results_and_missing_cosine():
    metric = VQKDMetric(num_codes=16)
    metric.process(None, _samples(2, 3, with_cos=False))
    samples = _samples(2, 4)
    metric.process(None, samples)
    results = metric.results
    assert len(results) == 4 and 'rec_cos' not in results[0]
    assert results[2]['rec_cos'] == pytest.approx(float(samples[0]['rec_cos']))
    np.testing.assert_array_equal(results[3]['tokens'],
                                  samples[1]['tokens'].flatten().numpy())
    assert results[3]['tokens'].dtype == np.int32
    res = metric.compute_metrics(results)
    expect = torch.stack([samples[0]['rec_cos'], samples[1]['rec_cos']])
    assert res['rec_cos'] == pytest.approx(float(expect.mean()), abs=1e-6)
