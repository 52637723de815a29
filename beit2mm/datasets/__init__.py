from .transforms import *  # noqa: F401,F403
from .samplers import ResumableSampler  # noqa: F401
