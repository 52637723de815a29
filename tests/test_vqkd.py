"""VQKDTokenizer: stages, gradients, teacher isolation, freezing, loading
(ours and official), predict/metric and the usage hook."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper

from beit2mm.engine.hooks import CodebookUsageHook
from beit2mm.evaluation import VQKDMetric
from beit2mm.models.teachers import DINOTeacher
from beit2mm.models.tokenizers import VQKDTokenizer

ARCH = dict(encoder=dict(embed_dims=32, num_layers=2, num_heads=2),
            decoder=dict(embed_dims=32, num_layers=1, num_heads=2))
TINY = dict(arch=ARCH, img_size=32, patch_size=8, num_codes=16, code_dim=8)


@pytest.fixture(scope='module')
def teacher():
    return DINOTeacher('vit_tiny_patch16_224', pretrained=None, img_size=32)


def _model(teacher=None, **kw):
    torch.manual_seed(0)
    m = VQKDTokenizer(**{**TINY, **kw}, teacher=teacher)
    m.init_weights()
    return m


def _images(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def test_shapes_and_attributes(teacher):
    m = _model(teacher)
    assert (m.num_codes, m.img_size, m.patch_size) == (16, 32, 8)
    assert m.decoder_out_dim == teacher.embed_dim == 192
    x = _images()
    h = m.encode(x)
    assert h.shape == (2, 16, 8) and h.dtype == torch.float32
    z_q, ids, loss_commit = m.quantize(h)
    assert ids.shape == (2, 16) and loss_commit.dim() == 0
    assert m.decode(z_q).shape == (2, 16, 192)
    tokens = m.get_tokens(x)
    assert tokens.shape == (2, 4, 4) and tokens.dtype == torch.long
    assert m(x, mode='tensor').shape == (2, 4, 4)


def test_loss_is_eq2_and_grads_reach_exactly_the_trainable_params(teacher):
    m = _model(teacher).train()
    x = _images()
    losses = m(x, mode='loss')
    assert set(losses) == {'loss_rec', 'loss_commit'}
    # loss_rec = mean(1 - cos(o, t)) on the same forward (no EMA in eval)
    m.eval()
    z_q, _, _ = m.quantize(m.encode(x))
    cos = torch.nn.functional.cosine_similarity(
        m.decode(z_q), teacher(x, m.grid), dim=-1)
    assert torch.allclose(m.loss(x)['loss_rec'], (1 - cos).mean(), atol=1e-5)
    m.train()
    sum(losses.values()).backward()
    missing = [n for n, p in m.named_parameters()
               if p.requires_grad
               and (p.grad is None or p.grad.abs().sum() == 0)]
    assert missing == []
    assert all(p.grad is None and not p.requires_grad
               for p in teacher.parameters())
    assert not teacher.training


def test_teacher_not_in_parameters_state_dict_or_optimizer(teacher):
    m = _model(teacher)
    teacher_ids = {id(p) for p in teacher.parameters()}
    assert not teacher_ids & {id(p) for p in m.parameters()}
    keys = set(m.state_dict())
    assert not any(k.startswith(('teacher', '_teacher')) for k in keys)
    assert {'quantize.codebook', 'quantize.cluster_size',
            'quantize.embed_avg', 'quantize.initted'} <= keys
    assert 'encoder.fc_norm.weight' in keys and 'decoder.fc_norm.bias' in keys
    wrapper = build_optim_wrapper(m, dict(
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.)))
    in_opt = {id(p) for g in wrapper.optimizer.param_groups
              for p in g['params']}
    assert not in_opt & teacher_ids
    assert id(m.quantize.codebook) not in in_opt
    assert in_opt == {id(p) for p in m.parameters()}
    # device/dtype moves reach the teacher too
    m.double()
    assert next(teacher.parameters()).dtype == torch.float64
    m.float()


def test_freeze_is_permanent_and_changes_nothing(teacher):
    m = _model(teacher).train()
    m(_images(), mode='loss')  # k-means + one EMA step
    m.freeze()
    state = {k: v.clone() for k, v in m.state_dict().items()}
    m.train()
    assert not m.training and not m.quantize.training
    assert not any(p.requires_grad for p in m.parameters())
    tokens = m.get_tokens(_images(seed=1))
    m(_images(seed=2), mode='loss')
    for k, v in m.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert torch.equal(tokens, m.get_tokens(_images(seed=1)))
    assert VQKDTokenizer(**TINY, frozen=True).quantize.frozen


def test_teacherless_build_and_our_checkpoint(tmp_path, teacher):
    m = _model(teacher).train()
    m(_images(), mode='loss')
    m.eval()
    # as mmengine saves it inside a bigger model: prefix + 'state_dict'
    ckpt = {'meta': {}, 'state_dict': {
        **{f'tokenizer.{k}': v for k, v in m.state_dict().items()},
        'backbone.patch_embed.proj.weight': torch.zeros(1)}}
    torch.save(ckpt, tmp_path / 'ours.pth')
    tok = VQKDTokenizer.from_checkpoint(
        str(tmp_path / 'ours.pth'), type='beit2mm.VQKDTokenizer', **TINY,
        teacher=None)
    assert tok.decoder is None  # tokens only: no decoder kept
    tok.freeze()
    x = _images(4, seed=3)
    assert torch.equal(tok.get_tokens(x), m.get_tokens(x))
    with pytest.raises(RuntimeError, match='no teacher'):
        tok.loss(x)
    with pytest.raises(RuntimeError, match='no decoder'):
        tok.decode(torch.zeros(1, 16, 8))


def to_official(state):
    """Our keys -> the official unilm layout (REFERENCE.md), with teacher
    keys, the official (1,)-shaped float ``initted`` and extra buffers."""
    out = {}
    for k, v in state.items():
        if k == 'quantize.codebook':
            out['quantize.embedding.weight'] = v
        elif k == 'quantize.cluster_size':
            out['quantize.cluster_size'] = v
            out['quantize.embedding.cluster_size'] = torch.zeros_like(v)
        elif k == 'quantize.embed_avg':
            out['quantize.embedding.embed_avg'] = v
        elif k == 'quantize.initted':
            out['quantize.embedding.initted'] = torch.tensor([1.])
        else:
            out[k] = v
    out['teacher_model.visual.proj'] = torch.zeros(3, 3)
    out['scaling_layer.shift'] = torch.zeros(1, 3, 1, 1)
    return out


def test_official_checkpoint_converts_to_the_same_tokens(tmp_path, teacher):
    m = _model(teacher).train()
    m(_images(), mode='loss')
    m.eval()
    torch.save({'model': to_official(m.state_dict())}, tmp_path / 'off.pth')
    tok = VQKDTokenizer.from_checkpoint(str(tmp_path / 'off.pth'), **TINY,
                                        teacher=teacher)
    tok.eval()
    x = _images(4, seed=4)
    assert torch.equal(tok.get_tokens(x), m.get_tokens(x))
    assert torch.allclose(tok.decode(tok.quantize(tok.encode(x)).z_q),
                          m.decode(m.quantize(m.encode(x)).z_q), atol=1e-6)
    assert tok.quantize._initted
    # the command-line converter writes a checkpoint that loads strictly
    from beit2mm.tools.convert import vqkd_official_to_beit2mm as conv
    conv.main([str(tmp_path / 'off.pth'), str(tmp_path / 'conv.pth')])
    saved = torch.load(tmp_path / 'conv.pth', weights_only=True)
    assert not any(k.startswith(('teacher', 'scaling'))
                   for k in saved['state_dict'])
    tok2 = _model(teacher)
    tok2.load_state_dict(saved['state_dict'], strict=True)
    assert torch.equal(tok2.eval().get_tokens(x), m.get_tokens(x))


def test_predict_metric_and_usage_hook(teacher):
    m = _model(teacher).train()
    m(_images(4), mode='loss')
    m.eval()
    samples = m(_images(4, seed=5), mode='predict')
    assert samples[0].tokens.shape == (4, 4)
    metric = VQKDMetric(num_codes=16)
    metric.process(None, [s.to_dict() for s in samples])
    res = metric.compute_metrics(metric.results)
    used = torch.cat([s.tokens.flatten() for s in samples]).unique().numel()
    assert res['codebook_usage'] == pytest.approx(used / 16 * 100)
    cos = torch.stack([torch.as_tensor(s.rec_cos) for s in samples]).mean()
    assert res['rec_cos'] == pytest.approx(float(cos), abs=1e-6)
    assert -1 <= res['rec_cos'] <= 1

    # hook: reads the accumulated counts once per interval, then resets
    m.train()
    m.quantize.usage_counts.zero_()
    m(_images(4, seed=6), mode='loss')
    expect = m.quantize.usage_counts.clone()
    hub = MessageHub.get_instance('test_vqkd_hook')
    runner = SimpleNamespace(model=m, message_hub=hub, iter=1,
                             max_iters=100, train_loop=None)
    hook = CodebookUsageHook(interval=2)
    hook.after_train_iter(runner, 1)  # iteration 2 of 100: due
    usage = hub.get_scalar('train/codebook_usage').current()
    assert usage == pytest.approx(float((expect > 0).float().mean() * 100))
    assert hub.get_scalar('train/perplexity').current() >= 1
    assert m.quantize.usage_counts.sum() == 0


def test_bad_config_fails_early(teacher):
    with pytest.raises(ValueError, match='arch'):
        VQKDTokenizer(arch='huge')
    with pytest.raises(ValueError, match='decoder_out_dim'):
        VQKDTokenizer(**TINY, teacher=teacher, decoder_out_dim=7)
    with pytest.raises(ValueError, match='img_size=64'):
        VQKDTokenizer(**{**TINY, 'img_size': 64}, teacher=teacher)
    with pytest.raises(ValueError, match='divisible'):
        VQKDTokenizer(**{**TINY, 'img_size': 30})


def test_quantizer_arguments_reach_the_quantizer():
    q = VQKDTokenizer(**TINY, decay=0.9, commitment_weight=0.5,
                      kmeans_init=False, kmeans_iters=3,
                      dead_code_threshold=0.25).quantize
    assert (q.num_codes, q.code_dim) == (16, 8)
    assert (q.decay, q.commitment_weight, q.kmeans_iters,
            q.dead_code_threshold) == (0.9, 0.5, 3, 0.25)
    assert bool(q.initted)  # no k-means pending
    with pytest.raises(TypeError, match=r"\['decai'\].*NormEMAQuantizer"):
        VQKDTokenizer(**TINY, decai=0.9)


def test_tokenize_tool_writes_ids_and_pictures(tmp_path, teacher):

    import numpy as np
    from PIL import Image
    m = _model(teacher).train()
    m(_images(), mode='loss')
    m.freeze()
    torch.save({'state_dict': m.state_dict()}, tmp_path / 'tok.pth')
    (tmp_path / 'cfg.py').write_text(
        f"model = dict(type='beit2mm.VQKDTokenizer', arch={ARCH!r}, "
        "img_size=32, patch_size=8, num_codes=16, code_dim=8, "
        "teacher=dict(type='beit2mm.CLIPTeacher', pretrained='openai'))\n")
    img_dir = tmp_path / 'imgs'
    img_dir.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):  # 40 x 48: resized to 32 on the short side + crop
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)) \
            .save(img_dir / f'im{i}.png')
    from beit2mm.tools import tokenize_images as tool
    out = tmp_path / 'out'
    tool.main([str(tmp_path / 'cfg.py'), str(tmp_path / 'tok.pth'),
               str(img_dir), '--out-dir', str(out), '--show'])
    x, _ = tool.load_image(str(img_dir / 'im1.png'), 32)
    ids = np.load(out / 'im1.npy')
    assert ids.shape == (4, 4)
    assert np.array_equal(ids, m.get_tokens(x[None])[0].numpy())
    assert (out / 'im0.png').stat().st_size > 0
