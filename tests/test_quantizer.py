"""NormEMAQuantizer invariants: lookup, EMA step, k-means, frozen mode,
restart, usage statistics, and a two-rank gloo run."""
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from beit2mm.models.quantizers import (NormEMAQuantizer, kmeans_cosine,
                                       usage_from_counts)
from beit2mm.models.quantizers import norm_ema_quantizer as nq


def _unit(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=-1)


def test_ids_codes_round_trip():
    q = NormEMAQuantizer(num_codes=32, code_dim=8, kmeans_init=False).eval()
    ids = torch.randint(0, 32, (4, 10))
    codes = q.embed(ids)
    assert codes.shape == (4, 10, 8)
    assert torch.equal(q.lookup(codes), ids)
    out = q(codes)
    assert torch.equal(out.ids, ids)
    assert torch.allclose(out.z_q, codes, atol=1e-6)
    assert out.loss_commit.abs() < 1e-10


def test_lookup_is_cosine_argmax_and_straight_through():
    q = NormEMAQuantizer(num_codes=16, code_dim=4, kmeans_init=False).eval()
    z = torch.randn(3, 5, 4, requires_grad=True)
    out = q(z * 7.)  # scale must not matter: l2-normalised lookup
    zn = F.normalize(z.detach(), dim=-1)
    expect = (zn @ q.codebook.t()).argmax(-1)
    assert torch.equal(out.ids, expect)
    # commitment = mse(sg[codes], l2(z)); forward value of z_q is the code
    assert torch.allclose(out.loss_commit,
                          F.mse_loss(q.codebook[expect], zn))
    assert torch.allclose(out.z_q, q.codebook[expect], atol=1e-6)
    # straight-through: d z_q / d l2(z) = identity
    w = torch.randn(3, 5, 4)
    (out.z_q * w).sum().backward()
    zz = z.detach().clone().requires_grad_(True)
    (F.normalize(zz * 7., dim=-1) * w).sum().backward()
    assert torch.allclose(z.grad, zz.grad, atol=1e-6)


def test_ema_step_matches_hand_computation():
    K, d, decay = 4, 3, 0.9
    q = NormEMAQuantizer(num_codes=K, code_dim=d, decay=decay,
                         kmeans_init=False).train()
    codebook = _unit(K, d, seed=1)
    q.codebook.copy_(codebook)
    z = _unit(20, d, seed=2)
    ids = (z @ codebook.t()).argmax(-1)
    q(z)
    w = codebook.numpy().astype(np.float64)
    zn = z.numpy().astype(np.float64)
    expect = w.copy()
    for j in range(K):
        assigned = zn[ids.numpy() == j]
        if len(assigned) == 0:
            continue  # unassigned codes keep their value
        mean = assigned.sum(0)
        mean /= np.linalg.norm(mean)
        v = decay * w[j] + (1 - decay) * mean
        expect[j] = v / np.linalg.norm(v)
    np.testing.assert_allclose(q.codebook.numpy(), expect, atol=1e-6)
    counts = np.bincount(ids.numpy(), minlength=K)
    np.testing.assert_allclose(q.cluster_size.numpy(), (1 - decay) * counts,
                               atol=1e-6)
    assert torch.equal(q.usage_counts, torch.tensor(counts).float())


def test_unassigned_codes_keep_their_value():
    q = NormEMAQuantizer(num_codes=8, code_dim=4, kmeans_init=False).train()
    z = q.codebook[:2].repeat(5, 1)  # only codes 0 and 1 are hit
    before = q.codebook.clone()
    q(z)
    assert torch.equal(q.codebook[2:], before[2:])


def test_kmeans_cosine_converges_to_a_fixed_point():
    torch.manual_seed(0)
    samples = F.normalize(torch.randn(300, 8), dim=-1)
    means, counts = kmeans_cosine(samples, 6, iters=30)
    assign = (samples @ means.t()).argmax(-1)
    assert torch.equal(counts, torch.bincount(assign, minlength=6).float())
    for j in range(6):  # each centroid = l2-normalised mean of its members
        m = F.normalize(samples[assign == j].sum(0), dim=0)
        assert torch.allclose(means[j], m, atol=1e-5)


def test_kmeans_init_once_and_restored_from_state_dict():
    torch.manual_seed(0)
    q = NormEMAQuantizer(num_codes=8, code_dim=4, kmeans_iters=10).train()
    assert not bool(q.initted)
    z = _unit(400, 4, seed=3)
    q(z)
    assert bool(q.initted) and q._initted
    # k-means put the codes on the data: every code is used by the batch
    assert (q.cluster_size > 0).all()
    assert 'usage_counts' not in q.state_dict()
    state = {k: v.clone() for k, v in q.state_dict().items()}
    assert set(state) == {'codebook', 'cluster_size', 'embed_avg', 'initted'}
    # resume: the same step on a restored copy gives bit-identical codebooks
    q2 = NormEMAQuantizer(num_codes=8, code_dim=4).train()
    q2.load_state_dict(state)
    assert q2._initted
    z2 = torch.randn(64, 4)
    q(z2)
    q2(z2)
    assert torch.equal(q.codebook, q2.codebook)
    assert torch.equal(q.cluster_size, q2.cluster_size)


def test_fp32_under_autocast():
    q = NormEMAQuantizer(num_codes=8, code_dim=4, kmeans_init=False).train()
    z = torch.randn(2, 6, 4, dtype=torch.bfloat16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = q(z)
    assert out.z_q.dtype == torch.float32
    assert q.codebook.dtype == torch.float32


def test_frozen_changes_nothing_and_calls_no_collective(monkeypatch):
    def boom(*a, **k):
        raise AssertionError('collective called in frozen mode')
    monkeypatch.setattr(nq, '_dist_on', lambda: True)
    monkeypatch.setattr(dist, 'all_reduce', boom)
    monkeypatch.setattr(dist, 'broadcast', boom)
    q = NormEMAQuantizer(num_codes=8, code_dim=4, dead_code_threshold=1.,
                         frozen=True).train()
    state = {k: v.clone() for k, v in q.state_dict().items()}
    out = q(torch.randn(3, 7, 4))
    assert out.ids.shape == (3, 7)
    for k, v in q.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert q.usage_counts.sum() == 0
    # the same quantizer unfrozen would have collected (and here exploded)
    q.frozen = False
    with pytest.raises(AssertionError, match='collective'):
        q(torch.randn(3, 7, 4))


def test_dead_code_restart_resets_ema_state():
    torch.manual_seed(0)
    q = NormEMAQuantizer(num_codes=6, code_dim=4, kmeans_init=False,
                         dead_code_threshold=0.5).train()
    q.cluster_size.fill_(10.)
    q.cluster_size[4:] = 0.  # codes 4, 5 are dead
    alive = q.codebook[:4].clone()
    z = q.codebook[:2].repeat(4, 1)  # hits codes 0 and 1 only
    q(z)
    assert torch.equal(q.codebook[2:4], alive[2:4])
    zn = F.normalize(z, dim=-1)
    for j in (4, 5):  # moved onto an encoder output, EMA state reset
        assert torch.isclose((zn @ q.codebook[j]).max(), torch.tensor(1.))
        assert q.cluster_size[j] == 0.5
        assert torch.allclose(q.embed_avg[j], 0.5 * q.codebook[j])


def test_usage_from_counts():
    s = usage_from_counts(torch.tensor([2., 0., 2., 0.]))
    assert torch.isclose(s['codebook_usage'], torch.tensor(50.))
    assert torch.isclose(s['perplexity'], torch.tensor(2.))
    q = NormEMAQuantizer(num_codes=4, code_dim=2, kmeans_init=False).train()
    q(q.codebook[[0, 0, 1]])
    s = q.usage_stats()
    assert torch.isclose(s['codebook_usage'], torch.tensor(50.))
    assert q.usage_counts.sum() == 0  # reset after reading


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match='decay'):
        NormEMAQuantizer(decay=1.5)
    with pytest.raises(ValueError, match='dead_code_threshold'):
        NormEMAQuantizer(dead_code_threshold=-1)
    with pytest.raises(ValueError, match='last dim'):
        NormEMAQuantizer(num_codes=4, code_dim=2)(torch.randn(3, 5))


# ---------------------------------------------------------------- two ranks
def _worker(rank, world, port, out_dir, steps):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        torch.manual_seed(100 + rank)  # different random init and data
        q = NormEMAQuantizer(num_codes=16, code_dim=4).train()
        q(torch.randn(40, 4))  # k-means on rank 0's batch, broadcast
        torch.save(q.codebook.clone(), f'{out_dir}/init_{rank}.pt')
        for _ in range(steps):
            q(torch.randn(3, 10, 4))
        torch.save({k: v.clone() for k, v in q.state_dict().items()},
                   f'{out_dir}/steps_{rank}.pt')
        # frozen: no collective even in train mode
        def boom(*a, **k):
            raise RuntimeError('collective in frozen mode')
        dist.all_reduce, dist.broadcast = boom, boom
        q.freeze()
        before = q.codebook.clone()
        q(torch.randn(3, 10, 4))
        assert torch.equal(before, q.codebook)
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_rank_gloo_codebooks_identical(tmp_path):
    # fork: the children inherit the imported modules (spawn re-imports
    # mmpretrain in each child, tens of seconds)
    mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path), 5),
                       nprocs=2, join=True, start_method='fork')
    init = [torch.load(tmp_path / f'init_{r}.pt') for r in range(2)]
    assert torch.equal(init[0], init[1])
    steps = [torch.load(tmp_path / f'steps_{r}.pt') for r in range(2)]
    for k in steps[0]:
        assert torch.equal(steps[0][k], steps[1][k]), k
    assert not torch.equal(steps[0]['codebook'], init[0])  # EMA did move
