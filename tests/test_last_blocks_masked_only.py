"""The last blocks computing only [CLS] and masked outputs agree with the
plain path (every output computed): values, losses and gradients."""
import pytest
import torch

from beit2mm.models.algorithms.beitv2_data_preprocessor import \
    masked_query_index
from beit2mm.models.utils import TransformerBlock
from beit2mm.models.utils.query_rows import block_rows
from test_beitv2_pretrain import batch, build


def _grads(module):
    return {n: p.grad.clone() for n, p in module.named_parameters()
            if p.grad is not None}


@pytest.mark.parametrize('fused', [True, False])
@pytest.mark.parametrize('own_bias', [False, True])
def test_block_query_subset_equals_rows_of_full_output(fused, own_bias):
    torch.manual_seed(0)
    B, N, C, H = 3, 17, 32, 4
    blk = TransformerBlock(C, H, layer_scale_init_value=0.1, fused_attn=fused,
                           window_size=(4, 4) if own_bias else None)
    if own_bias:
        with torch.no_grad():
            blk.rel_pos_bias.relative_position_bias_table.normal_()
    shared = torch.randn(H, N, N, requires_grad=True)
    x = torch.randn(B, N, C, requires_grad=True)
    q = torch.stack([torch.cat([torch.zeros(1, dtype=torch.long),
                                torch.randperm(N - 1)[:5].sort()[0] + 1])
                     for _ in range(B)])  # (B, 6)

    full = blk(x, shared)
    rows = full.gather(1, q.unsqueeze(-1).expand(-1, -1, C))
    rows.square().sum().backward()
    ref_grads = _grads(blk), x.grad.clone(), shared.grad.clone()
    blk.zero_grad()
    x.grad = shared.grad = None

    sub = block_rows(blk, x, shared, q)
    assert sub.shape == (B, 6, C)
    torch.testing.assert_close(sub, rows)
    sub.square().sum().backward()
    grads = _grads(blk)
    assert grads.keys() == ref_grads[0].keys()
    for k in grads:
        torch.testing.assert_close(grads[k], ref_grads[0][k])
    torch.testing.assert_close(x.grad, ref_grads[1])
    torch.testing.assert_close(shared.grad, ref_grads[2])


def test_masked_query_index():
    mask = torch.tensor([[0, 1, 1, 0], [1, 0, 0, 1]], dtype=torch.bool)
    q = masked_query_index(mask)
    assert q.tolist() == [[0, 2, 3], [0, 1, 4]]
    # flattened rows 1: come in mask_index order
    flat = (q[:, 1:] - 1 + torch.arange(2)[:, None] * 4).flatten()
    assert torch.equal(flat, mask.flatten().nonzero().squeeze(1))
    uneven = torch.tensor([[0, 1, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
    assert masked_query_index(uneven) is None


def _loss_and_grads(model, inputs, mask, **kw):
    model.zero_grad()
    losses = model(inputs, mode='loss', mask=mask, **kw)
    loss, _ = model.parse_losses(losses)
    loss.backward()
    return losses, _grads(model)


@pytest.mark.parametrize('with_cp', [False, True])
def test_algorithm_same_losses_and_gradients_as_plain_path(with_cp):
    fast = build()
    plain = build(tokenizer=fast.tokenizer, last_blocks_masked_only=False)
    for m in (fast, plain):
        m.backbone.with_cp = with_cp
        m.eval()  # no drop path: deterministic
        with torch.no_grad():
            m.backbone.rel_pos_bias.relative_position_bias_table.normal_()
    plain.load_state_dict(fast.state_dict())
    inputs, mask = batch(b=3)

    calls = []
    hook = fast.backbone.blocks[-1].mlp.register_forward_hook(
        lambda m, a, out: calls.append(out.shape))
    l_fast, g_fast = _loss_and_grads(fast, inputs, mask)
    hook.remove()
    assert calls == [(3, 1 + 6, 32)]  # [CLS] + 6 masked, not 1 + 16
    l_plain, g_plain = _loss_and_grads(plain, inputs, mask)
    for k in l_plain:
        torch.testing.assert_close(l_fast[k], l_plain[k])
    assert g_fast.keys() == g_plain.keys()
    for k in g_plain:
        torch.testing.assert_close(g_fast[k], g_plain[k], msg=k)

    # host-side indices as the data preprocessor gives them: same result
    idx = mask.flatten().nonzero().squeeze(1)
    l_pre, _ = _loss_and_grads(fast, inputs, mask, mask_index=idx,
                               query_index=masked_query_index(mask))
    torch.testing.assert_close(l_pre['loss_mim'], l_plain['loss_mim'])


def test_uneven_masks_fall_back_to_every_output():
    model = build()
    model.eval()
    inputs, mask = batch(b=2)
    mask[1, mask[1].nonzero()[0]] = False  # 6 and 5 masked
    calls = []
    model.backbone.blocks[-1].mlp.register_forward_hook(
        lambda m, a, out: calls.append(out.shape))
    plain = build(tokenizer=model.tokenizer, last_blocks_masked_only=False)
    plain.load_state_dict(model.state_dict())
    plain.eval()
    got = model(inputs, mode='loss', mask=mask)
    assert calls == [(2, 17, 32)]
    torch.testing.assert_close(
        got['loss_mim'], plain(inputs, mode='loss', mask=mask)['loss_mim'])
