"""Download a released BEiT v2 weight of the zoo (model-index.yml) into
checkpoints/, verify and convert it, and print the config line to use.

The code is :mod:`beit2mm.tools.download_checkpoint` (importable after ``make install``).
"""
import sys

from beit2mm.tools.download_checkpoint import main

if __name__ == '__main__':
    sys.exit(main())
