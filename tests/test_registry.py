"""The ``beit2mm`` registry scope: reachable from mmengine's root, falls back to
mmpretrain/mmengine, and never shadows their same-named classes."""
import os.path as osp

import mmengine.registry as mm_root
import mmpretrain.registry as mmpretrain_registry
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import beit2mm
from beit2mm import registry as ours
from beit2mm.models import BEiTv2ViT

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_root_registry_resolves_scoped_names():
    assert mm_root.MODELS.get('beit2mm.BEiTv2ViT') is BEiTv2ViT
    assert mm_root.HOOKS.get('beit2mm.SafeCheckpointHook') is \
        beit2mm.engine.SafeCheckpointHook


@pytest.mark.parametrize('name', [
    'VQKDTokenizer', 'BEiTv2Neck', 'MIMHead', 'CLIPTeacher', 'DINOTeacher'])
def test_public_model_names(name):
    cls = mm_root.MODELS.get(f'beit2mm.{name}')
    assert cls is not None and cls.__module__.startswith('beit2mm.')


def test_public_transform_name():
    cls = mm_root.TRANSFORMS.get('beit2mm.BlockwiseMaskGenerator')
    assert cls is not None and cls.__module__.startswith('beit2mm.')


@pytest.mark.parametrize('registry,name,origin', [
    ('MODELS', 'ImageClassifier', 'mmpretrain.'),
    ('MODELS', 'LinearClsHead', 'mmpretrain.'),
    ('DATASETS', 'CustomDataset', 'mmpretrain.'),
    ('TRANSFORMS', 'PackInputs', 'mmpretrain.'),
    ('METRICS', 'Accuracy', 'mmpretrain.'),
    ('HOOKS', 'CheckpointHook', 'mmengine.'),
    # our AMP wrapper replaces mmengine's everywhere (CPU and bf16 support)
    ('OPTIM_WRAPPERS', 'AmpOptimWrapper', 'beit2mm.compat.amp'),
    ('OPTIM_WRAPPERS', 'OptimWrapper', 'mmengine.'),
    ('DATA_SAMPLERS', 'InfiniteSampler', 'mmengine.'),
])
def test_parent_names_resolve_through_our_registries(registry, name, origin):
    cls = getattr(ours, registry).get(name)
    assert cls is not None and cls.__module__.startswith(origin), cls


def test_no_shadowing_of_same_named_classes():
    """e.g. MIMHead exists in both scopes; each scope keeps its own."""
    shared = set(ours.MODELS.module_dict) & set(
        mmpretrain_registry.MODELS.module_dict)
    assert 'MIMHead' in shared
    for name in shared:
        theirs = mmpretrain_registry.MODELS.get(name)
        assert theirs.__module__.startswith('mmpretrain.'), name
        assert mm_root.MODELS.get(f'mmpretrain.{name}') is theirs
        assert ours.MODELS.get(name).__module__.startswith('beit2mm.')
        assert ours.MODELS.get(name) is not theirs


def test_default_runtime_builds_in_our_scope():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/default_runtime.py'))
    assert cfg.default_scope == 'beit2mm'
    assert cfg.custom_imports == dict(imports=['beit2mm'],
                                      allow_failed_imports=False)
    with DefaultScope.overwrite_default_scope('beit2mm'):
        hooks = {k: mm_root.HOOKS.build(v)
                 for k, v in cfg.default_hooks.items()}
    assert type(hooks['checkpoint']).__name__ == 'SafeCheckpointHook'
    assert hooks['checkpoint'].max_keep_ckpts > 0
    assert type(hooks['sampler_seed']).__name__ == 'DistSamplerSeedHook'
