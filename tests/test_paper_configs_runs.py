"""Every paper-table config (docs/paper_tables.md) and every new-teacher VQ-KD
config runs in-process through mmengine's Runner on tiny generated folders in
the config's own on-disk layout: train configs two iterations (and their
validation), robustness configs a test pass. Models are shrunk to 2 blocks of
32 dims; the paper's CLIP/DINO teacher becomes a random timm ViT-Ti, the new
teachers (DINOv2, EVA-02, SigLIP, SigLIP 2) are built as configured with
random weights (pretrained=None)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import beit2mm  # noqa: F401
from beit2mm.models.heads.subset_cls_head import (imagenet_wnids,
                                                  subset_indices)
from conftest import write_image_folder
from test_cls_configs import no_yapf  # noqa: F401 (fixture)
from test_paper_configs import NEW, ROOT, TINY, _rel, _shrink_model

TEACHERS = [osp.join(ROOT, 'configs', 'vqkd', f'vqkd_vit-b_{t}_100e_in1k.py')
            for t in ('dinov2-b14', 'eva02-clip-b16', 'siglip-b16',
                      'siglip2-b16')]
ALL = NEW + TEACHERS
IN1K = ('n01440764', 'n01443537')  # ImageNet-1k classes 0 and 1


@pytest.fixture(scope='module')
def layouts(tmp_path_factory):
    """One tiny tree per layout the configs read (4 images to train, 2 to
    evaluate): ImageNet-1k ``train|val/<wnid>/``, ImageNet-21k
    ``train/<wnid>/``,
    ImageNet-A/-R/-Sketch ``<wnid>/`` (A and R: their first two classes),
    the demo's ``cls/train|val/<class>/`` (64 px)."""
    root = tmp_path_factory.mktemp('paper_layouts')
    wnids = imagenet_wnids()
    first2 = {name: tuple(wnids[i] for i in subset_indices(name)[:2])
              for name in ('imagenet-a', 'imagenet-r')}
    first2['imagenet-sketch'] = IN1K

    def tree(name, classes=IN1K, size=48, splits=('train', 'val')):
        # training: 4 images (batch 2: the linear probe's BatchNorm needs
        # more than one sample) = 2 iterations; evaluation: 2 images
        for split in splits:
            write_image_folder(root / name, classes=classes, size=size,
                               per_class=2 if split == 'train' else 1,
                               splits=(split, ))
        return str(root / name)

    out = dict(imagenet=tree('imagenet'),
               imagenet21k=tree('imagenet21k', splits=('train', )),
               cls=tree('cls', classes=('a', 'b'), size=64))
    for name, classes in first2.items():
        out[name] = tree(name, classes, splits=('', ))
    return out


def _layout(data_root):
    """'data/imagenet/' -> 'imagenet', 'work_dirs/demo/data/cls' -> 'cls'."""
    return osp.basename(data_root.rstrip('/'))


def _use_layouts(cfg, layouts):
    """Point each loader at the generated tree of its own layout (dataset
    type, split and prefix as configured); batch 2, no workers."""
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        loader.update(batch_size=2,
                      num_workers=0, persistent_workers=False,
                      pin_memory=False)
        ds = loader.dataset
        ds.data_root = layouts[_layout(ds.data_root)]
        if ds.type == 'ImageNet':  # 2 of the 1000 wnid folders
            ds.metainfo = dict(classes=IN1K)


def _shrink(cfg, path):
    """Tiny models, offline; a new teacher keeps its config, unweighted."""
    m = cfg.model
    teacher = m.get('teacher')
    _shrink_model(m)
    if path in TEACHERS:  # as configured, random weights
        m.teacher = dict(teacher, pretrained=None)
    if m.type == 'ImageClassifier':
        m.backbone.init_cfg = None  # random weights instead of a checkpoint
    if m.type == 'beit2mm.VQKDTokenizer':
        for key in ('val_evaluator', 'test_evaluator'):
            if cfg.get(key):
                cfg[key].num_codes = m.num_codes


def _prepare(path, layouts, work_dir):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'beit2mm'
    _shrink(cfg, path)
    _use_layouts(cfg, layouts)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU
    cfg.optim_wrapper.pop('loss_scale', None)
    if cfg.get('train_cfg'):
        cfg.train_cfg.update(max_epochs=1)
        if cfg.get('val_dataloader'):
            cfg.train_cfg.val_interval = 1
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = None
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    return cfg


def _scores(runner, loader):
    """(top-1 % counted here, score width) of the model on ``loader``."""
    model = runner.model.eval()
    hits = total = 0
    widths = set()
    with torch.no_grad():
        for batch in loader:
            for s in model.test_step(batch):
                widths.add(s.pred_score.numel())
                hits += int(s.pred_score.argmax().item() ==
                            s.gt_label.item())
                total += 1
    assert total == 2
    return 100. * hits / total, widths.pop()


def _check_robustness_test(path, cfg):
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    top1, width = _scores(runner, runner.test_dataloader)
    # ImageNet-A/-R: the 1000-way head returns its 200 subset columns
    assert width == (1000 if 'sketch' in path else 200)
    assert metrics['accuracy/top1'] == pytest.approx(top1)


def _check_pretraining(path, runner):
    scalars = runner.message_hub.log_scalars
    assert torch.isfinite(torch.tensor(scalars['train/loss'].current()))
    # no aggregation: only the last layer's MIM loss
    assert ('train/loss_cls_pt' in scalars) == ('agg-none' not in path)
    assert (runner.model.neck is None) == ('agg-none' in path)


def _check_vqkd(path, runner, cfg):
    model = runner.model
    metrics = runner.message_hub.log_scalars
    usage = metrics['val/vqkd/codebook_usage'].current()
    # the % of codes the trained tokenizer gives the val images, by hand
    ids = []
    with torch.no_grad():
        for batch in runner.val_dataloader:
            data = model.data_preprocessor(batch, False)
            ids.append(model.get_tokens(data['inputs']).flatten())
    used = torch.cat(ids).unique().numel()
    assert usage == pytest.approx(100 * used / cfg.model.num_codes)
    assert model.quantize.codebook.shape == (cfg.model.num_codes,
                                             cfg.model.code_dim)
    if path in TEACHERS:  # the configured teacher class and model
        teacher = model.teacher
        assert type(teacher).__name__ == cfg.model.teacher.type.split('.')[-1]
        assert teacher.model_name == cfg.model.teacher.model_name
        assert not any(p.requires_grad for p in teacher.parameters())


@pytest.mark.parametrize('path', ALL, ids=_rel)
def test_config_runs_on_tiny_data_in_its_layout(path, layouts, tmp_path,
                                                no_yapf):  # noqa: F811
    cfg = _prepare(path, layouts, str(tmp_path / 'work'))
    if 'robustness' in path:
        return _check_robustness_test(path, cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    if cfg.model.type == 'beit2mm.BEiTv2':
        _check_pretraining(path, runner)
    elif cfg.model.type == 'beit2mm.VQKDTokenizer':
        _check_vqkd(path, runner, cfg)
    elif cfg.get('val_dataloader'):  # fine-tuning / linear probe
        top1 = runner.message_hub.get_scalar('val/accuracy/top1').current()
        assert top1 == pytest.approx(_scores(runner,
                                             runner.val_dataloader)[0])
    else:  # ImageNet-21k: no evaluation during training (official)
        assert cfg.model.head.num_classes == 21841



def test_every_config_run_here_is_listed_in_docs():
    doc = open(osp.join(ROOT, 'docs', 'paper_tables.md')).read()
    missing = [_rel(p) for p in ALL if osp.basename(p) not in doc]
    assert not missing, missing
