"""Two ranks with a different random stream each (diff_rank_seed=True, as in
the pretraining recipes) and drop path: resuming from a checkpoint gives
every rank its own torch RNG back, so the weights after the resumed
iterations equal those of the uninterrupted run (the gradients are averaged
over both ranks, so rank 1's drop-path draws matter)."""
import os.path as osp
import socket

import torch

from beit2mm.compat.checkpoint import safe_load
from conftest import write_image_folder
from test_tools import CFG, _data_options, _output, _start

OPTIONS = ['randomness.seed=0', 'randomness.diff_rank_seed=True',
           'model.backbone.drop_path_rate=0.5', 'train_cfg.max_iters=4',
           'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2',
           'default_hooks.checkpoint.max_keep_ckpts=5']


def _dist_train(work_dir, data, *extra):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    cmd = ['bash', 'tools/dist_train.sh', CFG, '2', '--work-dir', work_dir]
    cmd += list(extra) + _data_options(data) + OPTIONS
    return _output(_start(cmd, PORT=str(port), BEIT2MM_ALLOW_CPU='1'))


def test_two_rank_resume_restores_every_ranks_stream(tmp_path):
    data = write_image_folder(tmp_path / 'data')
    ref, resumed = str(tmp_path / 'ref'), str(tmp_path / 'resumed')
    _dist_train(ref, data)
    ckpt = safe_load(osp.join(ref, 'iter_2.pth'))
    ranks = ckpt['rng_state']['ranks']
    assert len(ranks) == 2  # gathered from both ranks at the save
    assert not torch.equal(ranks[0]['torch'], ranks[1]['torch'])

    out = _dist_train(resumed, data, '--resume', osp.join(ref, 'iter_2.pth'))
    assert 'resumed epoch: 0, iter: 2' in out
    a = safe_load(osp.join(ref, 'iter_4.pth'))['state_dict']
    b = safe_load(osp.join(resumed, 'iter_4.pth'))['state_dict']
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_gathers_exactly_where_the_checkpoint_hook_saves():
    from types import SimpleNamespace

    from mmengine.hooks import CheckpointHook

    from beit2mm.engine.hooks import RNGStateHook
    due = RNGStateHook._checkpoint_due
    by_iter = SimpleNamespace(
        hooks=[CheckpointHook(interval=3, by_epoch=False)], max_iters=8,
        iter=0, epoch=0, max_epochs=1)
    saved = []
    for it in range(8):
        by_iter.iter = it
        if due(by_iter, end_of_epoch=False):
            saved.append(it + 1)
        assert not due(by_iter, end_of_epoch=True)
    assert saved == [3, 6, 8]  # every 3 and the last iteration
    by_epoch = SimpleNamespace(hooks=[CheckpointHook(interval=2)],
                               max_epochs=5, epoch=0, iter=0, max_iters=50)
    saved = []
    for ep in range(5):
        by_epoch.epoch = ep
        if due(by_epoch, end_of_epoch=True):
            saved.append(ep + 1)
    assert saved == [2, 4, 5]
    assert not due(SimpleNamespace(hooks=[]), end_of_epoch=False)
