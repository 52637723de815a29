"""Convert an official BEiT v2 *pretraining* checkpoint to beit2mm's BEiTv2.

The code is :mod:`beit2mm.tools.convert.beitv2_official_to_beit2mm` (importable after
``make install``).
"""
import sys

from beit2mm.tools.convert.beitv2_official_to_beit2mm import main

if __name__ == '__main__':
    sys.exit(main())
