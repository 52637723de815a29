"""Export a BEiT v2 checkpoint as an mmpretrain ``BEiTViT`` checkpoint.

The code is :mod:`beit2mm.tools.convert.beit2mm_to_mmpretrain` (importable after
``make install``).
"""
import sys

from beit2mm.tools.convert.beit2mm_to_mmpretrain import main

if __name__ == '__main__':
    sys.exit(main())
