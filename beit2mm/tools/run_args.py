"""Command-line pieces that ``tools/train.py`` and ``tools/test.py`` share
(mmpretrain's / mmseg's interface): the launcher arguments and where the
run writes."""
import argparse
import os

from beit2mm.engine.launch import default_work_dir
from mmengine.config import DictAction


def parse_with_launcher(parser: argparse.ArgumentParser, argv=None,
                        cfg_options_help: str = 'override config entries, '
                        'key=value') -> argparse.Namespace:
    """Add ``--cfg-options``, ``--launcher`` and ``--local_rank`` to
    ``parser``, parse ``argv`` and export the local rank as ``LOCAL_RANK``
    (torch.distributed.launch passes ``--local-rank``; torchrun sets the
    variable itself, which then wins)."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=cfg_options_help)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def set_launcher_and_work_dir(cfg, args) -> None:
    """``cfg.launcher`` from ``--launcher``; ``cfg.work_dir`` from
    ``--work-dir``, else the config's, else ``work_dirs/<config name>``."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config)
