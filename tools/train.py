"""Train a beit2mm model: ``python tools/train.py CONFIG [options]``.

The code is :mod:`beit2mm.tools.train` (importable after ``make install``).
"""
from beit2mm.tools.train import main

if __name__ == '__main__':
    main()  # raises SystemExit itself on bad arguments
