"""Browse what BEiT v2 pretraining trains on: the pretraining config's own
train pipeline applied to images of a folder, drawn as the crop, the student
view with its masked patches greyed, the tokenizer view and the mask.

The code is :mod:`beit2mm.tools.visualization.browse_dataset` (importable after
``make install``).
"""
import sys

from beit2mm.tools.visualization.browse_dataset import main

if __name__ == '__main__':
    sys.exit(main())
