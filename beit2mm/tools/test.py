"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Same interface as mmpretrain's / mmseg's ``tools/test.py``; several processes
with ``tools/dist_test.sh CONFIG CHECKPOINT N``. The checkpoint is loaded with
``torch.load(weights_only=True)`` (see beit2mm/compat/checkpoint.py).
"""
import argparse

import beit2mm  # noqa: F401  (compat fixes + registries, before Runner)
from beit2mm.engine.launch import build_runner, configure_device
from beit2mm.tools.run_args import (parse_with_launcher,
                                    set_launcher_and_work_dir)
from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.evaluator import DumpResults


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a beit2mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where to save logs and metrics')
    parser.add_argument('--out', help='dump the predictions to this pickle '
                        'file')
    return parse_with_launcher(parser, argv)


def merge_args(cfg, args):
    set_launcher_and_work_dir(cfg, args)
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
