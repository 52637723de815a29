"""Images -> VQ-KD token ids (.npy) and, optionally, token-map pictures.

The code is :mod:`beit2mm.tools.tokenize_images` (importable after ``make install``).
"""
import sys

from beit2mm.tools.tokenize_images import main

if __name__ == '__main__':
    sys.exit(main())
