"""Inference API: init_model / tokenize / extract_features for every model
kind, on JPEG files the test writes, against the models' own forward on the
same preprocessed input."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate

from beit2mm.apis import extract_features, init_model, tokenize
from beit2mm.registry import MODELS, TRANSFORMS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
VQKD = osp.join(ROOT, 'configs/vqkd/vqkd_vit-tiny_shapes-64px_cpu.py')
PRETRAIN = osp.join(ROOT, 'configs/beitv2/beitv2_vit-tiny_shapes-64px_cpu.py')
CLS = osp.join(ROOT, 'configs/tiny/tiny_vit_classifier.py')
SEG = osp.join(ROOT, 'configs/benchmarks/'
               'upernet_beitv2_vit-b_8xb2-160k_ade20k-512x512.py')
SEG_TINY = {'model.backbone.arch': dict(_delete_=True, embed_dims=32,
                                        num_layers=2, num_heads=2, mlp_ratio=2.),
            'model.backbone.img_size': (64, 64),
            'model.backbone.out_indices': [0, 1]}


@pytest.fixture(scope='module')
def jpegs(tmp_path_factory):
    """Three real JPEG files of different sizes and aspect ratios, with
    structure (smooth gradients + blobs) so that a tokenizer sees more than
    noise."""
    from PIL import Image
    d = tmp_path_factory.mktemp('jpegs')
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(80, 96), (64, 64), (120, 70)]):
        yy, xx = np.mgrid[:h, :w]
        img = np.stack([xx * 255 / w, yy * 255 / h,
                        (xx + yy) * 127 / (h + w)], -1)
        img += rng.normal(0, 40, (h, w, 3))
        path = str(d / f'img_{i}.jpg')
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            path, quality=90)
        paths.append(path)
    return paths


def _reference_inputs(pipeline, paths, mean, std):
    """The config pipeline from the files, BGR -> RGB, (x - mean) / std:
    computed here independently of beit2mm.apis."""
    compose = Compose([TRANSFORMS.build(t) for t in pipeline])
    data = default_collate([compose(dict(img_path=p)) for p in paths])
    x = data['inputs'].float()[:, [2, 1, 0]]
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(
        std).view(1, 3, 1, 1)


def _save(tmp_path, name, state):
    path = str(tmp_path / name)
    torch.save({'state_dict': state}, path)
    return path


def test_tokenize_matches_get_tokens_on_jpegs(jpegs, tmp_path):
    from beit2mm.models.tokenizers import VQKDTokenizer
    cfg = Config.fromfile(VQKD)
    args = {k: v for k, v in cfg.model.to_dict().items()
            if k not in ('type', 'data_preprocessor', 'teacher')}
    torch.manual_seed(0)
    ref = VQKDTokenizer(**args, decoder_out_dim=16).freeze()
    ckpt = _save(tmp_path, 'vqkd.pth', ref.state_dict())

    model = init_model(VQKD, ckpt, device='cpu')
    assert model.kind == 'tokenizer' and model.net.teacher is None
    assert model.net.decoder is None  # nothing beyond encoder + quantizer
    ids = tokenize(model, jpegs, batch_size=2)  # two batches: 2 + 1
    x = _reference_inputs(cfg.test_pipeline, jpegs, [127.5] * 3, [127.5] * 3)
    expected = ref.get_tokens(x)
    assert ids.shape == (3, 8, 8) and ids.dtype == torch.long
    assert torch.equal(ids, expected)
    assert len(ids.unique()) > 4

    # the same decoded pixels as PIL, RGB numpy and a (B, 3, H, W) tensor
    import mmcv
    from PIL import Image
    rgb = [mmcv.imread(p)[..., ::-1].copy() for p in jpegs]
    assert torch.equal(tokenize(model, [Image.fromarray(a) for a in rgb]),
                       expected)
    assert torch.equal(tokenize(model, rgb), expected)
    same = torch.from_numpy(rgb[1]).permute(2, 0, 1)[None].float()
    assert torch.equal(tokenize(model, same), expected[1:2])
    # mmpretrain's FeatureExtractor takes the model too (BGR arrays, as mmcv)
    from mmpretrain import FeatureExtractor
    feats = FeatureExtractor(model)(jpegs, batch_size=3, pooling='mean')
    torch.testing.assert_close(torch.stack(feats), extract_features(
        model, jpegs, pooling='mean'))


def test_pretrain_features_equal_backbone_forward(jpegs, tmp_path):
    cfg = Config.fromfile(PRETRAIN)
    torch.manual_seed(0)
    bb = MODELS.build(cfg.model.backbone)
    bb.init_weights()
    state = {'backbone.' + k: v for k, v in bb.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(128, 96)  # pretraining-only key
    ckpt = _save(tmp_path, 'pretrain.pth', state)
    model = init_model(PRETRAIN, ckpt, device='cpu')
    assert model.kind == 'pretrain'
    x = _reference_inputs(model.pipeline, jpegs, cfg.model.data_preprocessor
                          .mean, cfg.model.data_preprocessor.std)
    with torch.no_grad():
        out = bb.eval().forward_features(x, return_layers=[2])
        tokens = bb.norm(out.last)
    torch.testing.assert_close(extract_features(model, jpegs), tokens[:, 0])
    torch.testing.assert_close(
        extract_features(model, jpegs, pooling='mean'),
        tokens[:, 1:].mean(1))
    patch = extract_features(model, jpegs, layer=2, pooling='patch')
    assert patch.shape == (3, 96, 8, 8)
    torch.testing.assert_close(
        patch.flatten(2).transpose(1, 2), out.hidden[2][:, 1:])


def test_classifier_features_equal_extract_feat(jpegs, tmp_path):
    cfg = Config.fromfile(CLS)
    torch.manual_seed(0)
    clf = MODELS.build(dict(cfg.model.to_dict(),
                            data_preprocessor=cfg.data_preprocessor))
    clf.init_weights()
    ckpt = _save(tmp_path, 'cls.pth', clf.state_dict())
    model = init_model(CLS, ckpt, device='cpu')
    assert model.kind == 'classifier'
    x = _reference_inputs(cfg.test_pipeline, jpegs, cfg.data_preprocessor.mean,
                          cfg.data_preprocessor.std)
    with torch.no_grad():
        expected = clf.eval().extract_feat(x)[-1]  # normed [CLS] (out_type)
    torch.testing.assert_close(extract_features(model, jpegs), expected)
    # mmpretrain's own get_model path reads the same config + checkpoint
    from mmpretrain import FeatureExtractor
    feats = FeatureExtractor(CLS, pretrained=ckpt, device='cpu')(jpegs[:1])
    torch.testing.assert_close(feats[0][-1], expected[0])


def test_segmentation_features_equal_backbone_levels(jpegs, tmp_path):
    cfg = Config.fromfile(SEG)
    cfg.merge_from_dict(SEG_TINY)
    torch.manual_seed(0)
    args = cfg.model.backbone.to_dict()
    args.pop('init_cfg')
    bb = MODELS.build(args)
    bb.init_weights()
    state = {'backbone.' + k: v for k, v in bb.state_dict().items()}
    state['decode_head.conv_seg.weight'] = torch.zeros(150, 32, 1, 1)
    ckpt = _save(tmp_path, 'seg.pth', state)
    model = init_model(SEG, ckpt, device='cpu', cfg_options=SEG_TINY)
    assert model.kind == 'segmentor'
    x = _reference_inputs(model.pipeline, jpegs, cfg.data_preprocessor.mean,
                          cfg.data_preprocessor.std)
    with torch.no_grad():
        levels = bb.eval()(x)  # raw feature maps of blocks 1 and 2
    torch.testing.assert_close(
        extract_features(model, jpegs, layer=1, pooling='patch'), levels[0])
    torch.testing.assert_close(
        extract_features(model, jpegs, layer=2, pooling='patch', norm=False),
        levels[1])


def test_clear_errors(jpegs):
    with pytest.warns(UserWarning, match='random-init'):
        model = init_model(CLS, None, device='cpu')
    with pytest.raises(ValueError, match='init_model\\(VQKD_CONFIG'):
        tokenize(model, jpegs)
    with pytest.raises(ValueError, match='pooling'):
        extract_features(model, jpegs, pooling='max')
    with pytest.raises(ValueError, match='layer 5 asked for'):
        extract_features(model, jpegs, layer=5)
