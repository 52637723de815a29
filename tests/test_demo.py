"""`make demo`: the Shapes data writer, the pictures, the progress/ETA lines
and a shortened run of the whole pipeline (2 iterations per stage)."""
import hashlib
import json
import os
import os.path as osp

import numpy as np
import pytest



def _digest(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = osp.join(d, f)
            with open(p, 'rb') as fh:
                out[osp.relpath(p, root)] = hashlib.md5(fh.read()).hexdigest()
    return out


def test_shapes_writer_is_deterministic_and_in_the_real_layouts(tmp_path):
    from beit2mm.tools.demo.synthetic import CLASSES, write_demo_data
    kw = dict(size=32, cls_train=3, cls_val=2, seg_train=4, seg_val=3)
    a = write_demo_data(str(tmp_path / 'a'), **kw)
    write_demo_data(str(tmp_path / 'b'), **kw)
    assert _digest(tmp_path / 'a') == _digest(tmp_path / 'b')
    assert _digest(tmp_path / 'a') != _digest(
        write_demo_data(str(tmp_path / 'c'), seed=1, **kw)['cls'])

    # ImageNet-style folders as mmpretrain reads them
    from mmpretrain.datasets import CustomDataset
    for split, n in (('train', 3), ('val', 2)):
        ds = CustomDataset(data_root=a['cls'], data_prefix=split,
                           pipeline=[])
        assert ds.CLASSES == tuple(sorted(CLASSES))
        assert len(ds) == n * len(CLASSES)
    # ADE20K layout: every image has its annotation
    for split, n in (('training', 4), ('validation', 3)):
        imgs = sorted(os.listdir(osp.join(a['seg'], 'images', split)))
        anns = sorted(os.listdir(osp.join(a['seg'], 'annotations', split)))
        assert len(imgs) == n and all(f.endswith('.jpg') for f in imgs)
        assert [f[:-4] for f in imgs] == [f[:-4] for f in anns]


def test_shapes_ground_truth_matches_the_drawing():
    from beit2mm.tools.demo.synthetic import CLASSES, render
    for c in range(len(CLASSES)):
        for seed in range(3):
            img, seg, label = render(seed * 10 + c, 64, 1, cls=c)
            assert label == c and img.shape == (64, 64, 3)
            # ADE convention: 0 unlabelled edge, 1 background, 2.. shapes
            assert set(np.unique(seg)) <= {0, 1, c + 2}
            shape = seg == c + 2
            assert 60 < shape.sum() < 64 * 64 * 0.7
            edge = seg == 0
            assert 0 < edge.sum() < shape.sum()
            # the shape is textured: its pixels differ from the background's
            bg = img[seg == 1].mean(0)
            assert np.abs(img[shape].mean(0) - bg).max() > 10 or \
                img[shape].std() > 20


def test_patches_by_code_groups_the_right_patches():
    from beit2mm.visualization.codebook import patches_by_code
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    tokens = rng.integers(0, 3, (3, 4, 4))
    codes, patches, counts = patches_by_code(images, tokens, num_codes=2,
                                             per_code=5)
    assert codes == list(np.argsort(-counts, kind='stable')[:2])
    for c, pat in zip(codes, patches):
        # every patch shown for code c is a patch that has token c
        want = {images[i, y * 4:y * 4 + 4, x * 4:x * 4 + 4].tobytes()
                for i, y, x in zip(*np.nonzero(tokens == c))}
        assert pat.shape == (min(5, counts[c]), 4, 4, 3)
        assert all(p.tobytes() in want for p in pat)


def test_progress_reads_mmengine_log_lines(capsys):
    from beit2mm.tools.demo import cli as demo
    assert demo.parse_eta('0:01:05') == 65
    assert demo.parse_eta('1 day, 0:00:01') == 86401
    p = demo.Progress(['vqkd', 'pretrain'])
    p.start('vqkd')
    p.on_log_line('11/23 06:23:16 - mmengine - INFO - Iter(train) '
                  '[ 20/300]  lr: 1.0e-03  eta: 0:02:10  time: 0.4')
    out = capsys.readouterr().out
    assert 'iter 20/300' in out and 'stage ETA 2m10s' in out
    # total = this stage's ETA + the nominal time of the stages after it
    assert f'total ETA {demo.fmt_s(130 + demo.STAGES["pretrain"][1])}' in out


@pytest.fixture
def fast_config_dump(monkeypatch):
    """mmengine formats every config with yapf when a run starts (most of a
    2-iteration run's time on a small CPU); JSON text is enough here."""
    from mmengine.config import Config
    monkeypatch.setattr(Config, 'pretty_text', property(
        lambda self: json.dumps(self.to_dict(), default=str)))


@pytest.fixture
def one_thread():
    """One torch thread: these 2-iteration runs are tiny, and on a busy CPU
    extra OpenMP threads spin rather than help."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_quick_demo_runs_every_stage_and_writes_the_report(tmp_path,
                                                           fast_config_dump,
                                                           one_thread):
    from beit2mm.tools.demo import cli as demo
    ctx = demo.main(['--work-dir', str(tmp_path), '--quick',
                     '--launcher', 'inprocess'])
    assert set(ctx['status'].values()) == {'done'}, ctx['status']
    with open(tmp_path / 'report.json') as f:
        rep = json.load(f)
    for key in ('codebook_usage', 'rec_cosine', 'mim_acc', 'linear_probe_acc',
                'linear_probe_acc_random_init', 'miou', 'miou_random_init',
                'seconds'):
        assert isinstance(rep[key], float), key
    # each figure is the last value its stage logged in its own work dir
    from beit2mm.tools.demo.records import last_value, read_scalars
    for key, stage, logged, val in (
            ('codebook_usage', 'vqkd', 'vqkd/codebook_usage', True),
            ('rec_cosine', 'vqkd', 'vqkd/rec_cos', True),
            ('mim_acc', 'pretrain', 'acc_mim', False),
            ('linear_probe_acc', 'lp', 'accuracy/top1', True),
            ('linear_probe_acc_random_init', 'lp_random', 'accuracy/top1',
             True),
            ('miou', 'seg', 'mIoU', True),
            ('miou_random_init', 'seg_random', 'mIoU', True)):
        train, val_records = read_scalars(str(tmp_path / stage))
        want = last_value(val_records if val else train, logged)
        assert rep[key] == pytest.approx(want), key
    # bf16 autocast by default where the CPU computes bf16 natively, else fp32
    expected = 'bf16 autocast' if demo.default_amp() else 'fp32'
    assert rep['precision'].startswith(expected), rep['precision']
    assert set(rep['pictures']) == {'codebook', 'token_maps', 'curves',
                                    'segmentation'}
    for f in rep['pictures'].values():
        assert osp.getsize(tmp_path / f) > 1000
    md = (tmp_path / 'report.md').read_text()
    assert 'linear_probe_acc_random_init' in md
    assert 'pictures/codebook.png' in md
    # every stage's exact config is kept for reruns by hand
    for stage in ('vqkd', 'pretrain', 'lp', 'lp_random', 'seg', 'seg_random'):
        assert (tmp_path / 'configs' / f'{stage}.py').is_file()
