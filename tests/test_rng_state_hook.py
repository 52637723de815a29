"""RNGStateHook gives every rank its own torch RNG stream back on resume,
also with ``randomness.diff_rank_seed=True`` (each rank a different stream)."""
import os
import socket
from types import SimpleNamespace

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from beit2mm.engine.hooks.rng_state_hook import RNGStateHook


def _runner():
    return SimpleNamespace(_resume=True,
                           cfg=dict(randomness=dict(diff_rank_seed=True)),
                           logger=SimpleNamespace(warning=print))


def _worker(rank, port, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    try:
        torch.manual_seed(100 + rank)  # a different stream per rank
        torch.rand(5)
        ckpt = {}
        RNGStateHook().before_save_checkpoint(_runner(), ckpt)
        expected = torch.rand(4)  # what the uninterrupted run draws next
        # only rank 0 writes the file; every rank resumes from it
        objs = [ckpt]
        dist.broadcast_object_list(objs, src=0)
        torch.manual_seed(12345)  # a fresh process starts from its seed
        hook = RNGStateHook()
        hook.after_load_checkpoint(_runner(), objs[0])
        hook.before_train_iter(_runner(), 0)
        torch.save(dict(expected=expected, got=torch.rand(4)),
                   os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


def test_every_rank_resumes_its_own_stream(tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    mp.start_processes(_worker, args=(port, str(tmp_path)), nprocs=2,
                       start_method='spawn')
    results = [torch.load(tmp_path / f'rank{r}.pth') for r in range(2)]
    for r in results:
        torch.testing.assert_close(r['got'], r['expected'], rtol=0, atol=0)
    assert not torch.equal(results[0]['expected'], results[1]['expected'])


def test_single_process_round_trip():
    hook = RNGStateHook()
    torch.manual_seed(7)
    ckpt = {}
    hook.before_save_checkpoint(_runner(), ckpt)
    assert 'ranks' not in ckpt['rng_state']
    expected = torch.rand(3)
    torch.manual_seed(0)
    hook.after_load_checkpoint(_runner(), ckpt)
    hook.before_train_iter(_runner(), 0)
    assert torch.equal(torch.rand(3), expected)
