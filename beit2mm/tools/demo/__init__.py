"""``make demo`` (``tools/demo.py``): the whole pipeline on a CPU in minutes.
``synthetic`` writes the Shapes data, ``stages`` trains each stage with
``tools/train.py``, ``records`` reads what a stage left in its work dir,
``report`` writes report.{md,json} and the pictures, ``cli`` runs the stages
with progress lines."""
from .cli import main

__all__ = ['main']
