"""FLOPs and parameters of a config's backbone forward on one image at the
config's input size (as mmpretrain's tools/analysis_tools/get_flops.py).

The code is :mod:`beit2mm.tools.analysis_tools.get_flops` (importable after
``make install``).
"""
import sys

from beit2mm.tools.analysis_tools.get_flops import main

if __name__ == '__main__':
    sys.exit(main())
