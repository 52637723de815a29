"""The relative position bias in SDPA's 8-aligned layout: same values and
gradients as the plain contiguous bias, built once, never re-laid out per
attention call."""
import pytest
import torch
import torch.nn.functional as F

from beit2mm.models.utils import Attention, RelativePositionBias
from beit2mm.models.utils.rel_pos_bias import aligned_bias, is_aligned_bias
from beit2mm.models.utils.query_rows import attention_rows


def _reference(module):
    """The bias as a plain contiguous (H, N, N) tensor."""
    idx = module.relative_position_index
    n = idx.shape[0]
    table = module.relative_position_bias_table
    return table[idx.view(-1)].view(n, n, -1).permute(2, 0, 1).contiguous()


@pytest.mark.parametrize('window', [(14, 14), (3, 3), (4, 4)])
def test_bias_is_built_aligned_with_the_same_values_and_grads(window):
    torch.manual_seed(0)
    rpb = RelativePositionBias(window, num_heads=3)
    with torch.no_grad():
        rpb.relative_position_bias_table.normal_()
    bias = rpb()
    n = window[0] * window[1] + 1
    assert bias.shape == (3, n, n) and is_aligned_bias(bias)
    assert bias.stride(-2) % 8 == 0
    ref = _reference(rpb)
    assert torch.equal(bias, ref)
    w = torch.randn(3, n, n)
    g1, = torch.autograd.grad((bias * w).sum(), rpb.relative_position_bias_table)
    g2, = torch.autograd.grad((ref * w).sum(), rpb.relative_position_bias_table)
    assert torch.equal(g1, g2)


def test_aligned_bias_is_a_noop_when_aligned_and_casts_into_aligned_storage():
    x = torch.randn(2, 197, 197, requires_grad=True)
    a = aligned_bias(x)
    assert not is_aligned_bias(x) and is_aligned_bias(a)
    assert aligned_bias(a) is a
    assert is_aligned_bias(a.unsqueeze(0))  # as Attention passes it to SDPA
    h = aligned_bias(a, torch.bfloat16)
    assert h.dtype == torch.bfloat16 and is_aligned_bias(h)
    assert torch.equal(h, x.detach().to(torch.bfloat16))
    g, = torch.autograd.grad(h.float().sum(), x)
    assert torch.equal(g, torch.ones_like(x))
    y = torch.randn(2, 16, 16)  # already aligned
    assert aligned_bias(y) is y


@pytest.mark.parametrize('fused', [True, False])
def test_attention_with_aligned_bias_equals_the_contiguous_one(fused):
    torch.manual_seed(0)
    attn = Attention(24, 3, fused=fused).eval()
    with torch.no_grad():
        attn.q_bias.normal_()
        attn.v_bias.normal_()
    rpb = RelativePositionBias((4, 4), 3)
    with torch.no_grad():
        rpb.relative_position_bias_table.normal_()
    x = torch.randn(2, 17, 24)
    out = attn(x, rpb())
    ref = attn(x, _reference(rpb))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    # against the formula, independently of the module's two paths
    q, k, v = F.linear(x, attn.qkv.weight, torch.cat(
        (attn.q_bias, torch.zeros_like(attn.v_bias), attn.v_bias))).reshape(
            2, 17, 3, 3, 8).permute(2, 0, 3, 1, 4)
    w = ((q * 8**-0.5) @ k.transpose(-2, -1) + _reference(rpb)).softmax(-1)
    y = attn.proj((w @ v).transpose(1, 2).reshape(2, 17, 24))
    torch.testing.assert_close(out, y, rtol=1e-4, atol=1e-5)


def test_sdpa_sees_an_aligned_mask_in_fp32_and_under_autocast(monkeypatch):
    """What reaches F.scaled_dot_product_attention: aligned in q's dtype."""
    seen = []
    real = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        seen.append((attn_mask.dtype, is_aligned_bias(attn_mask), q.dtype))
        return real(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', spy)
    attn = Attention(24, 3).eval()
    rpb = RelativePositionBias((4, 4), 3)
    x = torch.randn(2, 17, 24)
    with torch.no_grad():  # with autograd on a CPU the plain path runs
        attn(x, rpb())
        with torch.autocast('cpu', dtype=torch.bfloat16):
            attn(x, rpb())
        attention_rows(attn, x, rpb(), torch.tensor([[0, 3], [1, 5]]))
    assert seen == [(torch.float32, True, torch.float32),
                    (torch.bfloat16, True, torch.bfloat16),
                    (torch.float32, True, torch.float32)]


@pytest.mark.parametrize('amp', [False, True])
def test_cpu_training_attention_skips_sdpa_math_fallback(monkeypatch, amp):
    """With autograd on a CPU and a bias, SDPA would run its slow math
    kernel: the plain path runs instead, with SDPA's values and bias
    gradients (fp32: 1e-5; bf16 autocast: a few bf16 ulps)."""
    torch.manual_seed(0)
    attn = Attention(24, 3).eval()
    with torch.no_grad():
        attn.q_bias.normal_()
        attn.v_bias.normal_()
    rpb = RelativePositionBias((4, 4), 3)
    table = rpb.relative_position_bias_table
    with torch.no_grad():
        table.normal_()
    x = torch.randn(2, 17, 24)
    real = F.scaled_dot_product_attention
    calls = []
    monkeypatch.setattr(F, 'scaled_dot_product_attention',
                        lambda *a, **kw: calls.append(1) or real(*a, **kw))
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
        out = attn(x, rpb())
        assert calls == []  # not SDPA
        ref = _sdpa_attention(attn, x, rpb())
        assert calls == [1]
    g, = torch.autograd.grad(out.float().sum(), table)
    g_ref, = torch.autograd.grad(ref.float().sum(), table)
    tol = dict(rtol=2**-6, atol=3e-2) if amp else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.float(), ref.float(), **tol)
    torch.testing.assert_close(g, g_ref, **(dict(rtol=2**-5, atol=0.1)
                                           if amp else tol))


def _sdpa_attention(attn, x, bias):
    """Attention.forward's fused path, always through SDPA."""
    B, N, C = x.shape
    qkv = F.linear(x, attn.qkv.weight, torch.cat(
        (attn.q_bias, torch.zeros_like(attn.v_bias), attn.v_bias)))
    q, k, v = qkv.reshape(B, N, 3, attn.num_heads,
                          attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    y = F.scaled_dot_product_attention(q, k, v,
                                       attn_mask=bias.to(q.dtype)[None])
    return attn.proj(y.transpose(1, 2).reshape(B, N, C))
