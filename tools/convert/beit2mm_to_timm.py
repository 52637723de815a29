"""Export a BEiT v2 checkpoint as a timm ``beitv2_base_patch16_224`` /
``beitv2_large_patch16_224`` state dict.

The code is :mod:`beit2mm.tools.convert.beit2mm_to_timm` (importable after
``make install``).
"""
import sys

from beit2mm.tools.convert.beit2mm_to_timm import main

if __name__ == '__main__':
    sys.exit(main())
