"""Print the whole config a tool would run (inheritance resolved,
--cfg-options merged), as mmpretrain's tools/analysis_tools/print_config.py.

The code is :mod:`beit2mm.tools.analysis_tools.print_config` (importable after
``make install``).
"""
import sys

from beit2mm.tools.analysis_tools.print_config import main

if __name__ == '__main__':
    sys.exit(main())
