"""bf16 inference fast path (cached bf16 weights, bias in oneDNN's GEMM) and
the shared relative position bias cast once per forward: the same values as
the plain autocast path, caches that follow the weights, and the fast path
only where it applies (eval, no autograd, bf16 autocast on a CPU with
oneDNN bf16).

Tolerance: the two paths round the same bf16 products; on the CPUs measured
they are bit-identical. The assertion allows one bf16 ulp of the outputs
(rtol 2**-7) so that another oneDNN kernel choice cannot fail it.
"""
import pytest
import torch

from beit2mm.models.utils import RelativePositionBias, TransformerBlock
from beit2mm.compat.amp import cpu_bf16_supported
from beit2mm.models.utils.lowp_inference import (lowp_dtype,
                                                 set_lowp_inference)
from beit2mm.models.utils.rel_pos_bias import is_aligned_bias

BF16 = dict(rtol=2**-7, atol=2e-2)
needs_bf16 = pytest.mark.skipif(
    not cpu_bf16_supported(),
    reason='this CPU has no native bf16: the fast path is off, nothing to '
    'compare')


def _block():
    torch.manual_seed(0)
    blk = TransformerBlock(48, 4, layer_scale_init_value=0.1,
                           window_size=(3, 3)).eval()
    with torch.no_grad():
        for p in blk.parameters():
            p.normal_(0, 0.2)
    return blk


def _run(blk, x, fast):
    old = set_lowp_inference(fast)
    try:
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            return blk(x)
    finally:
        set_lowp_inference(old)


@needs_bf16
def test_fast_block_equals_plain_autocast_block_and_follows_weights():
    blk = _block()
    x = torch.randn(2, 10, 48)
    plain, fast = _run(blk, x, False), _run(blk, x, True)
    assert '_lowp_cast_cache' in blk.attn.__dict__  # the fast path ran
    assert '_lowp_cast_cache' in blk.mlp.__dict__
    torch.testing.assert_close(fast, plain, **BF16)
    # a changed weight (optimizer step, load_state_dict) refreshes the cache
    with torch.no_grad():
        blk.mlp.fc1.weight.mul_(-1.5)
        blk.attn.q_bias.add_(1.)
    plain2, fast2 = _run(blk, x, False), _run(blk, x, True)
    assert not torch.allclose(plain2, plain, **BF16)
    torch.testing.assert_close(fast2, plain2, **BF16)
    assert 'lowp' not in ''.join(blk.state_dict())


def test_fast_path_only_in_eval_without_autograd_under_bf16_autocast():
    x = torch.randn(2, 3)
    assert lowp_dtype(x) is None  # no autocast
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert lowp_dtype(x) is None  # autograd on
    blk = _block().train()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        blk(torch.randn(2, 10, 48))
    assert '_lowp_cast_cache' not in blk.attn.__dict__  # training mode


@needs_bf16
def test_frozen_tokenizer_ids_equal_on_both_paths():
    from beit2mm.models.tokenizers import VQKDTokenizer
    torch.manual_seed(0)
    tok = VQKDTokenizer(arch=dict(encoder=dict(embed_dims=48, num_layers=2,
                                               num_heads=4),
                                  decoder=dict(embed_dims=48, num_layers=1,
                                               num_heads=4)),
                        img_size=32, patch_size=8, num_codes=64, code_dim=8,
                        teacher=None, decoder_out_dim=16, kmeans_init=False)
    tok.init_weights()
    tok.freeze()
    img = torch.rand(4, 3, 32, 32) * 2 - 1
    ids = []
    for fast in (False, True):
        old = set_lowp_inference(fast)
        try:
            with torch.autocast('cpu', dtype=torch.bfloat16):
                ids.append(tok.get_tokens(img))
        finally:
            set_lowp_inference(old)
    assert torch.equal(ids[0], ids[1])


def test_shared_bias_is_cast_once_into_aligned_storage_under_autocast():
    torch.manual_seed(0)
    rpb = RelativePositionBias((3, 3), 2)
    with torch.no_grad():
        rpb.relative_position_bias_table.normal_()
    ref = rpb()
    assert ref.dtype == torch.float32
    with torch.autocast('cpu', dtype=torch.bfloat16):
        low = rpb()
    assert low.dtype == torch.bfloat16 and is_aligned_bias(low)
    assert torch.equal(low, ref.detach().to(torch.bfloat16))
    g, = torch.autograd.grad(low.float().sum(),
                             rpb.relative_position_bias_table)
    assert g.dtype == torch.float32
    assert g.sum().item() == 2 * 10 * 10  # H (1+N)^2
