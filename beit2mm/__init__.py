"""beit2mm: BEiT v2 for the OpenMMLab ecosystem.

``import beit2mm`` applies the compatibility fixes (``beit2mm.compat``),
registers mmpretrain's modules (our registries are its children, and a parent's
modules are only looked up once imported) and registers every beit2mm
component in the ``beit2mm`` registry scope.
"""
from . import compat  # noqa: F401  (must run before mmengine loads checkpoints)

from mmpretrain.utils import register_all_modules as _register_mmpretrain

_register_mmpretrain(init_default_scope=False)

from . import (datasets, engine, evaluation, models,  # noqa: F401,E402
               visualization)
from .version import __version__  # noqa: F401,E402
