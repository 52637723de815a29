"""Convert an official unilm VQ-KD tokenizer checkpoint to beit2mm's layout.

The code is :mod:`beit2mm.tools.convert.vqkd_official_to_beit2mm` (importable after
``make install``).
"""
import sys

from beit2mm.tools.convert.vqkd_official_to_beit2mm import main

if __name__ == '__main__':
    sys.exit(main())
