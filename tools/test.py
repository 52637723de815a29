"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

The code is :mod:`beit2mm.tools.test` (importable after ``make install``).
"""
import sys

from beit2mm.tools.test import main

if __name__ == '__main__':
    sys.exit(main())
