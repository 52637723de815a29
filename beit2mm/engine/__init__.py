from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .accumulation import install as _install_accumulation

_install_accumulation()
