"""Export a BEiT v2 pretraining checkpoint as the backbone of our ADE20K
UperNet configs (``beit2mm.BEiTv2SegViT``).

The code is :mod:`beit2mm.tools.convert.beit2mm_to_mmseg` (importable after
``make install``).
"""
import sys

from beit2mm.tools.convert.beit2mm_to_mmseg import main

if __name__ == '__main__':
    sys.exit(main())
