"""`make demo`: the whole BEiT v2 pipeline end to end on a CPU in minutes:
``python tools/demo.py --work-dir work_dirs/demo [--quick] [--stages ...]``
(see ``--help``).

The code is :mod:`beit2mm.tools.demo` (importable after ``make install``).
"""
import os

# before torch loads (``beit2mm.tools.demo.cli`` explains both)
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
os.environ.setdefault('BEIT2MM_ALLOW_CPU', '1')

from beit2mm.tools.demo import main  # noqa: E402

if __name__ == '__main__':
    main()
