#!/usr/bin/env python
"""Speed and memory of BEiT v2 training steps and tokenization, optionally
side by side with mmpretrain 1.2.0's BEiT v2: ``python tools/benchmark.py
--task {mim,vqkd,tokenize,pipeline} [options]`` (see ``--help``).

The code is :mod:`beit2mm.tools.benchmark` (importable after ``make install``).
"""
import sys

from beit2mm.tools.benchmark import main

if __name__ == '__main__':
    sys.exit(0 if main() is not None else 1)
