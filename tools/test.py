"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

The code is :mod:`beit2mm.tools.test` (importable after ``make install``).
"""
from beit2mm.tools.test import main

if __name__ == '__main__':
    main()  # raises SystemExit itself on bad arguments
