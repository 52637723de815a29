"""tools/benchmark.py: a seconds-long run of each task with a tiny arch, and
the side-by-side build against mmpretrain doing the same work."""
import importlib.util
import json
import os.path as osp

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = json.dumps(dict(embed_dims=32, num_layers=3, num_heads=2))
COMMON = ['--arch', TINY, '--img-size', '32', '--batch-size', '2',
          '--steps', '2', '--warmup', '1', '--num-codes', '64']


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', osp.join(ROOT, 'tools', 'benchmark.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check(results, task, impls):
    assert [r['impl'] for r in results] == impls
    for r in results:
        assert r['task'] == task
        assert r['images_per_sec'] > 0
        assert r['peak_mem_mb'] > 0
        json.dumps(r)


def test_mim_against_mmpretrain_same_loss(bench, capsys):
    """Same weights and masks -> the same loss in both implementations;
    one JSON line per implementation with the speedup on theirs."""
    results = bench.main(['--task', 'mim', '--compare-mmpretrain'] + COMMON)
    _check(results, 'mim', ['beit2mm', 'mmpretrain'])
    theirs = results[1]
    assert theirs['speedup'] > 0
    assert theirs['loss_rel_diff'] < 1e-5
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(x)['impl'] for x in lines] == ['beit2mm', 'mmpretrain']


def test_tokenize_against_mmpretrain_same_tokens(bench):
    results = bench.main(['--task', 'tokenize', '--compare-mmpretrain'] +
                         COMMON)
    _check(results, 'tokenize', ['beit2mm', 'mmpretrain', 'mmpretrain'])
    assert [r.get('mode') for r in results] == [None, 'train', 'eval']
    assert all(r['token_agreement'] == 1.0 for r in results[1:])


def test_vqkd_train_step_updates_weights(bench):
    args = bench.parse_args(['--task', 'vqkd', '--teacher', 'none'] + COMMON)
    arch = bench.resolve_arch(args.arch)
    step = bench.build_steps(args, arch, 'cpu')['beit2mm']
    before = step.model.encoder.patch_embed.proj.weight.detach().clone()
    loss = step()
    assert torch.isfinite(loss)
    assert not torch.equal(before, step.model.encoder.patch_embed.proj.weight)
    # the quantizer trains too (EMA), i.e. it is a real VQ-KD step
    assert step.model.quantize.training


def test_arguments_fail_early(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(['--amp', 'fp16'])  # fp16 autocast needs CUDA
    with pytest.raises(SystemExit):
        bench.parse_args(['--task', 'vqkd', '--compare-mmpretrain'])
    with pytest.raises(SystemExit):
        bench.resolve_arch('huge')
