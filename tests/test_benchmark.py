"""tools/benchmark.py (beit2mm.tools.benchmark): a seconds-long run of each task with a tiny arch, and
the side-by-side build against mmpretrain doing the same work."""
import json
import os.path as osp

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = json.dumps(dict(embed_dims=32, num_layers=3, num_heads=2))
COMMON = ['--arch', TINY, '--img-size', '32', '--batch-size', '2',
          '--steps', '2', '--warmup', '1', '--num-codes', '64',
          '--threads', '1']  # tiny ops: no OpenMP hand-offs on a busy CPU


@pytest.fixture(scope='module')
def bench():
    from beit2mm.tools import benchmark
    return benchmark


def _check(results, task, impls):
    assert [r['impl'] for r in results] == impls
    for r in results:
        assert r['task'] == task
        # the rates are the measured step times restated
        assert r['images_per_sec'] == pytest.approx(
            r['batch_size'] / (r['step_ms_median'] / 1e3), rel=1e-2)
        assert r['step_ms_min'] <= r['step_ms_median']
        assert r['gflops_achieved'] == pytest.approx(
            r['gflop_per_step'] / (r['step_ms_median'] / 1e3), rel=1e-2)
        assert r['peak_mem_mb'] > 0
        json.dumps(r)


def test_mim_against_mmpretrain_same_loss(bench, capsys):
    """Same weights and masks -> the same loss in both implementations;
    one JSON line per implementation with the speedup on theirs."""
    threads = torch.get_num_threads()
    results = bench.main(['--task', 'mim', '--compare-mmpretrain'] + COMMON)
    assert torch.get_num_threads() == threads  # restored
    _check(results, 'mim', ['beit2mm', 'mmpretrain'])
    theirs = results[1]
    assert 'speedup' not in results[0]  # ratios are theirs / ours
    assert theirs['loss_rel_diff'] < 1e-5
    # roofline: FLOPs counted alike for both, a measured GEMM peak, and
    # the bound on any speedup at our FLOP count
    ours = results[0]
    assert ours['peak_fraction'] == pytest.approx(  # rounded to 3 places
        ours['gflops_achieved'] / ours['gemm_peak_gflops'], rel=1e-2,
        abs=6e-4)
    assert ours['gflop_per_step'] < theirs['gflop_per_step']
    assert theirs['speedup_bound'] == pytest.approx(
        theirs['step_ms_median'] / ours['floor_ms'], rel=0.02)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(x)['impl'] for x in lines] == ['beit2mm', 'mmpretrain']


def test_masked_only_last_blocks_cut_flops_not_work(bench):
    """The default mim step counts fewer matmul FLOPs than the plain path
    (--full-last-blocks), which counts what mmpretrain does, up to its
    quantizer's distance matmul."""
    flops = {}
    for extra in ([], ['--full-last-blocks']):
        args = bench.parse_args(['--task', 'mim', '--compare-mmpretrain'] +
                                COMMON + extra)
        torch.manual_seed(0)
        steps = bench.build_steps(args, bench.resolve_arch(args.arch), 'cpu')
        flops[bool(extra)] = {n: bench.step_gflop(s) for n, s in steps.items()}
    fast, full = flops[False]['beit2mm'], flops[True]['beit2mm']
    theirs = flops[True]['mmpretrain']
    assert fast < 0.97 * full
    assert full == pytest.approx(theirs, rel=0.05)


def test_tokenize_against_mmpretrain_same_tokens(bench):
    results = bench.main(['--task', 'tokenize', '--compare-mmpretrain'] +
                         COMMON)
    _check(results, 'tokenize', ['beit2mm', 'mmpretrain', 'mmpretrain'])
    assert [r.get('mode') for r in results] == [None, 'train', 'eval']
    assert all(r['token_agreement'] == 1.0 for r in results[1:])
    # same products counted for both (our CPU flash-attention kernel too)
    assert results[0]['gflop_per_step'] == pytest.approx(
        results[2]['gflop_per_step'], rel=1e-3)


def test_vqkd_train_step_updates_weights(bench):
    args = bench.parse_args(['--task', 'vqkd', '--teacher', 'none'] + COMMON)
    torch.manual_seed(0)
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
        bench.resolve_arch('no-such-arch')


# ------------------------------------------------ fast path == plain path
def _tiny_tokenizer(frozen=True):
    from beit2mm.models.tokenizers import VQKDTokenizer
    arch = dict(embed_dims=32, num_layers=2, num_heads=2)
    torch.manual_seed(0)
    tok = VQKDTokenizer(arch=dict(encoder=arch, decoder=arch), img_size=32,
                        num_codes=64, kmeans_init=False, teacher=None,
                        frozen=frozen)
    return tok


def test_get_tokens_fast_path_matches_plain_path():
    tok = _tiny_tokenizer()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    fast, plain = tok.get_tokens(x), tok.get_tokens(x, fast=False)
    assert fast.shape == (3, 2, 2)
    assert torch.equal(fast, plain)
    # a normal tensor (not an inference tensor): a valid loss target
    assert not fast.is_inference()
    logits = torch.randn(fast.numel(), 64, requires_grad=True)
    torch.nn.functional.cross_entropy(logits, fast.flatten()).backward()
    # under bf16 autocast both paths still agree (lookup stays fp32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch.equal(tok.get_tokens(x), tok.get_tokens(x, fast=False))


def test_quantizer_ids_match_forward_and_leave_state_alone():
    from beit2mm.models.quantizers import NormEMAQuantizer
    q = NormEMAQuantizer(64, 8, kmeans_init=False).eval()
    z = torch.randn(5, 7, 8)
    book = q.codebook.clone()
    assert torch.equal(q.ids(z), q(z).ids)
    q.train()
    ids = q.ids(z)
    assert torch.equal(q.codebook, book)  # no EMA on the id-only path
    assert torch.equal(ids, q(z).ids)


def test_training_tokenizer_keeps_its_updating_path():
    """A tokenizer in training (not frozen) still updates its codebook
    through get_tokens, as the full forward does."""
    tok = _tiny_tokenizer(frozen=False).train()
    book = tok.quantize.codebook.clone()
    tok.get_tokens(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert not torch.equal(book, tok.quantize.codebook)


def test_activation_checkpointing_matches_plain_gradients():
    """with_cp (the large-model memory option) recomputes blocks in the
    backward: same loss and gradients as without it."""
    from beit2mm.models.backbones import BEiTv2ViT
    arch = dict(embed_dims=32, num_layers=2, num_heads=2)
    torch.manual_seed(0)
    plain = BEiTv2ViT(arch=arch, img_size=32, with_mask_token=True)
    plain.init_weights()
    cp = BEiTv2ViT(arch=arch, img_size=32, with_mask_token=True,
                   with_cp=True)
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    mask = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 0]]).bool()
    grads = []
    for m in (plain, cp):
        m.train()
        m.forward_features(x, mask).last.square().mean().backward()
        grads.append({n: p.grad for n, p in m.named_parameters()
                      if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n])


def test_train_steps_use_the_configs_optimizer_and_clipping(bench):
    """The benchmarked optimizer is the config's: its weight-decay groups,
    torch's default (not fused) AdamW, clip 3.0 for mim and none for vqkd;
    rows name the precision (no global TF32 unless asked)."""
    args = bench.parse_args(['--task', 'mim', '--compare-mmpretrain']
                            + COMMON)
    steps = bench.build_steps(args, bench.resolve_arch(args.arch), 'cpu')
    ours = steps['beit2mm']
    assert ours.clip == 3.0
    assert not ours.opt.defaults.get('fused')
    wd = {id(p): g['weight_decay'] for g in ours.opt.param_groups
          for p in g['params']}
    names = dict(ours.model.named_parameters())
    assert wd[id(names['backbone.cls_token'])] == 0.
    assert wd[id(names['backbone.mask_token'])] == 0.05
    assert wd[id(names['backbone.blocks.0.norm1.weight'])] == 0.
    # memory: each side counts only its own tensors
    theirs = steps['mmpretrain']
    mine = {t.untyped_storage().data_ptr() for t in ours.persistent()}
    other = {t.untyped_storage().data_ptr() for t in theirs.persistent()}
    assert not mine & other
    assert bench.own_bytes(ours, 'cpu') == sum(
        p.untyped_storage().nbytes() for p in ours.model.state_dict(
            keep_vars=True).values()) + sum(
        t.untyped_storage().nbytes() for st in ours.opt.state.values()
        for t in st.values() if torch.is_tensor(t)) + sum(
        t.untyped_storage().nbytes()
        for t in ours.model.tokenizer.state_dict().values())
    vq = bench.parse_args(['--task', 'vqkd', '--teacher', 'none',
                           '--fused-adamw'] + COMMON)
    step = bench.build_steps(vq, bench.resolve_arch(vq.arch),
                             'cpu')['beit2mm']
    assert step.clip is None and step.opt.defaults['fused']
    assert {g['lr'] for g in step.opt.param_groups} == {5e-5}
    assert bench.precision(args) == 'fp32'
    args.device, args.tf32 = 'cuda', True
    assert bench.precision(args) == 'tf32'
    args.amp = 'bf16'
    assert bench.precision(args) == 'bf16'


SCRIPT = osp.join(ROOT, 'tools', 'benchmark_gpu.sh')


def test_gpu_script_covers_every_figure_with_valid_flags(bench, monkeypatch):
    """benchmark_gpu.sh: valid bash; its commands (--dry-run) parse with
    tools/benchmark.py's own parser and cover mim, vqkd with the CLIP
    teacher and tokenize in bf16, fp16 and compiled, at batch 128 and 256,
    with MFU against the stated 989 TFLOP/s."""
    import shlex
    import subprocess
    subprocess.run(['bash', '-n', SCRIPT], check=True)
    out = subprocess.run(['bash', SCRIPT, '--dry-run'], check=True,
                         capture_output=True, text=True).stdout
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    parsed = []
    for line in out.strip().splitlines():
        argv = shlex.split(line)
        assert argv[1] == 'tools/benchmark.py'
        parsed.append(bench.parse_args(argv[2:]))
    assert all(a.device == 'cuda' and a.peak_tflops == 989 and
               a.arch == 'base' and not a.no_memory for a in parsed)
    seen = {(a.task, a.amp, a.compile, a.batch_size) for a in parsed}
    for task in ('mim', 'vqkd', 'tokenize'):
        assert {(t, amp) for t, amp, _, _ in seen if t == task} >= {
            (task, 'bf16'), (task, 'fp16')} or task == 'tokenize'
    assert {a.task for a in parsed if a.compile} == {'mim', 'tokenize'}
    assert {a.batch_size for a in parsed} == {128, 256}
    assert all(a.teacher == 'clip' for a in parsed if a.task == 'vqkd')
    assert any(a.tf32 for a in parsed) and any(
        a.amp is None and not a.tf32 for a in parsed)
    assert any(a.compare_mmpretrain for a in parsed if a.task == 'mim')


def test_gpu_script_tiny_cpu_run_writes_one_json(tmp_path):
    import subprocess
    import sys
    out = tmp_path / 'bench.json'
    subprocess.run(
        ['bash', SCRIPT, '--tiny', '--device', 'cpu', '--out', str(out),
         '--only', 'task tokenize --batch-size [0-9]+$'], check=True,
        env=dict(__import__('os').environ, PYTHON=sys.executable),
        capture_output=True, text=True)
    report = json.loads(out.read_text())
    assert report['peak_tflops'] == 989 and report['device'] == 'cpu'
    (run, ) = report['runs']
    assert run['status'] == 'ok'
    (row, ) = run['results']
    assert row['task'] == 'tokenize' and row['precision'] == 'fp32'
    assert row['peak_mem_mb'] > 0
