"""Look at a VQ-KD tokenizer's tokens on a folder of images: per-image token
maps, the paper's Fig. 4 patch grid of the most used codes, the codebook
usage histogram and perplexity.

The code is :mod:`beit2mm.tools.visualization.vis_tokens` (importable after
``make install``).
"""
import sys

from beit2mm.tools.visualization.vis_tokens import main

if __name__ == '__main__':
    sys.exit(main())
