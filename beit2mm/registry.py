"""The ``beit2mm`` registry scope.

Every registry here is a child of mmpretrain's, so a config with
``default_scope='beit2mm'`` still resolves mmpretrain's (and mmengine's) datasets,
transforms, hooks and optimizers, while our components never clash with the
same-named ones mmpretrain already registers (``MIMHead``, ``VQKD``, ...).
From any scope ours are reachable as ``'beit2mm.<Name>'``.
"""
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry


def _child(name: str, location: str) -> Registry:
    parent = getattr(mmpretrain_registry, name)
    registry = Registry(parent.name, parent=parent, scope='beit2mm',
                        locations=[location])
    # mmengine's root registry resolves 'scope.Name' only among its direct
    # children; list ours there too so that e.g.
    # ``mmengine.registry.MODELS.get('beit2mm.VQKDTokenizer')`` and an mmseg
    # config's ``type='beit2mm.X'`` find it. Lookups without a scope still
    # fall back to mmpretrain's and mmengine's registries through ``parent``.
    root = parent
    while root.parent is not None:
        root = root.parent
    if 'beit2mm' not in root.children:
        root._add_child(registry)
    return registry


MODELS = _child('MODELS', 'beit2mm.models')
TRANSFORMS = _child('TRANSFORMS', 'beit2mm.datasets')
DATASETS = _child('DATASETS', 'beit2mm.datasets')
DATA_SAMPLERS = _child('DATA_SAMPLERS', 'beit2mm.datasets')
HOOKS = _child('HOOKS', 'beit2mm.engine')
LOOPS = _child('LOOPS', 'beit2mm.engine')
OPTIMIZERS = _child('OPTIMIZERS', 'beit2mm.engine')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS', 'beit2mm.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS', 'beit2mm.engine')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS', 'beit2mm.engine')
RUNNERS = _child('RUNNERS', 'beit2mm.engine')
METRICS = _child('METRICS', 'beit2mm.evaluation')
EVALUATORS = _child('EVALUATORS', 'beit2mm.evaluation')
VISUALIZERS = _child('VISUALIZERS', 'beit2mm.visualization')
VISBACKENDS = _child('VISBACKENDS', 'beit2mm.visualization')
LOG_PROCESSORS = _child('LOG_PROCESSORS', 'beit2mm.engine')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS', 'beit2mm.models')
TASK_UTILS = _child('TASK_UTILS', 'beit2mm.models')
MODEL_WRAPPERS = _child('MODEL_WRAPPERS', 'beit2mm.models')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS', 'beit2mm.engine')
BATCH_AUGMENTS = _child('BATCH_AUGMENTS', 'beit2mm.models')
