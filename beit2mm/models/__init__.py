from .algorithms import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .quantizers import *  # noqa: F401,F403
from .teachers import *  # noqa: F401,F403
from .tokenizers import *  # noqa: F401,F403
