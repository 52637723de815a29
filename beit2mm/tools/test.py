"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Same interface as mmpretrain's / mmseg's ``tools/test.py``; several processes
with ``tools/dist_test.sh CONFIG CHECKPOINT N``. The checkpoint is loaded with
``torch.load(weights_only=True)`` (see beit2mm/compat/checkpoint.py).
"""
import argparse
import os

import beit2mm  # noqa: F401  (compat fixes + registries, before Runner)
from beit2mm.engine.launch import (build_runner, configure_device,
                                   default_work_dir)
from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.evaluator import DumpResults


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a beit2mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where to save logs and metrics')
    parser.add_argument('--out', help='dump the predictions to this pickle '
                        'file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg, args):
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    configure_device(cfg)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    runner = build_runner(cfg)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit('--out must be a .pkl file')
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    if is_main_process():  # which tokenizer the pretraining used, if known
        from beit2mm.models.backbones.pretrained_loading import log_tokenizer
        from beit2mm.models.utils.checkpoint_formats import load_file
        log_tokenizer(load_file(args.checkpoint), args.checkpoint,
                      runner.logger)
    metrics = runner.test()
    if is_main_process():  # one line for scripts, besides the runner's log
        print(f'metrics: {metrics}')


if __name__ == '__main__':
    main()
