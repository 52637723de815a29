"""Train a beit2mm model: ``python tools/train.py CONFIG [options]``.

Same interface as mmpretrain's / mmseg's ``tools/train.py``; for several GPUs
(or CPU processes) use ``tools/dist_train.sh CONFIG N`` or
``tools/slurm_train.sh``.
"""
import argparse
import os.path as osp

import beit2mm  # noqa: F401  (compat fixes + registries, before Runner)
from beit2mm.engine.hooks.checkpoint_hook import read_last_checkpoint
from beit2mm.engine.launch import build_runner, configure_device, enable_amp
from beit2mm.tools.run_args import (parse_with_launcher,
                                    set_launcher_and_work_dir)
from mmengine.config import Config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a beit2mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where to save logs and '
                        'checkpoints (default: work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or (no value) from the latest '
        'complete checkpoint in the work dir')
    parser.add_argument(
        '--auto-resume', action='store_true',
        help='resume from the work dir\'s last checkpoint when it has one, '
        'else start as configured (tools/dist_train.sh and '
        'tools/slurm_train.sh pass it unless AUTO_RESUME=0), so a requeued '
        'or restarted job continues with the same command line')
    parser.add_argument(
        '--amp', action='store_true',
        help='automatic mixed precision on GPU or CPU: bf16 autocast where '
        'supported, else fp16 with a dynamic loss scale (GPU) / fp32 (CPU '
        'without bf16); the log names the precision')
    parser.add_argument(
        '--amp-dtype', choices=['bfloat16', 'float16'],
        help='with --amp: force this autocast dtype (float16: GPU only, '
        'dynamic loss scale)')
    parser.add_argument(
        '--device', choices=['auto', 'cuda', 'cpu'], default='auto',
        help='cpu: train on CPU on purpose (same as BEIT2MM_ALLOW_CPU=1); '
        'auto: CUDA, or the CPU only for a single process on a machine '
        'without NVIDIA GPUs; cuda: stop if CUDA is not usable')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual batch size')
    return parse_with_launcher(
        parser, argv, cfg_options_help='override config entries, key=value '
        '(e.g. train_dataloader.batch_size=64 or key="[a,b]")')


def merge_args(cfg, args):
    """Command-line arguments into the config (CLI > config > defaults)."""
    set_launcher_and_work_dir(cfg, args)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        if cfg.get('train_cfg') is not None:
            cfg.train_cfg.pop('val_interval', None)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.auto_resume and args.resume is None:
        last = read_last_checkpoint(cfg.work_dir)
        if last is not None and osp.isfile(last):
            print(f'beit2mm: --auto-resume from {last}')
            cfg.resume, cfg.load_from = True, last
    if args.amp_dtype is not None and not args.amp:
        raise SystemExit('--amp-dtype needs --amp.')
    if args.amp:
        enable_amp(cfg, args.amp_dtype)
    configure_device(cfg, args.device)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
