"""BEiTv2DataPreprocessor moves every tensor of a pretraining batch to the
device with non_blocking=True (the loaders pin memory)."""
import torch
from mmpretrain.structures import DataSample

from beit2mm.models.algorithms.beitv2_data_preprocessor import \
    BEiTv2DataPreprocessor


def test_every_copy_is_non_blocking(monkeypatch):
    pre = BEiTv2DataPreprocessor()
    calls = []
    real = torch.Tensor.to

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get('non_blocking'))
        return real(self, *args, **kwargs)

    samples = []
    for _ in range(2):
        s = DataSample()
        s.set_field(torch.zeros(2, 2, dtype=torch.bool).fill_diagonal_(True),
                    'mask', field_type='metainfo')
        samples.append(s)
    # default_collate'd two views: [student (B, 3, H, W), tokenizer view]
    data = dict(inputs=[torch.zeros(2, 3, 8, 8, dtype=torch.uint8),
                        torch.zeros(2, 3, 8, 8, dtype=torch.uint8)],
                data_samples=samples)
    monkeypatch.setattr(torch.Tensor, 'to', spy)
    out = pre(data, training=True)
    monkeypatch.undo()
    assert out['mask'].shape == (2, 4)
    moved = [c for c in calls if c is not None]
    assert moved and all(moved), calls
