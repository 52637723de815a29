"""Plot any scalar of training runs against reference curves, or list the
scalars / time per iteration (as mmpretrain's analyze_logs.py), reading
mmengine's <work_dir>/<timestamp>/vis_data/scalars.json.

The code is :mod:`beit2mm.tools.analysis_tools.analyze_logs` (importable after
``make install``).
"""
import sys

from beit2mm.tools.analysis_tools.analyze_logs import main

if __name__ == '__main__':
    sys.exit(main())
