"""The stages of `make demo` (tools/demo.py): each writes the config it runs
under <work-dir>/configs/, trains it with tools/train.py and puts its numbers
into ``ctx['results']``."""
import glob
import importlib
import json
import os
import os.path as osp
import subprocess
import sys

from beit2mm.apis.zoo import ROOT
from .records import last_checkpoint, last_value, read_scalars, run_precision
from .report import write_report

PROJECT = osp.join(ROOT, 'projects', 'tiny_beitv2', 'configs')

# stage -> (config file, expected seconds on an idle 2-core CPU in bf16; the
# total ETA uses them, rescaled by how fast the finished stages ran, for the
# stages still to come)
STAGES = {
    'data': (None, 10),
    'vqkd': ('vqkd_tiny_shapes64.py', 85),
    'pretrain': ('beitv2_tiny_shapes64.py', 125),
    'lp': ('linear-probe_beitv2_tiny_shapes64.py', 30),
    'lp_random': ('linear-probe_random-init_tiny_shapes64.py', 30),
    'seg': ('upernet_beitv2_tiny_shapes64.py', 60),
    'seg_random': ('upernet_random-init_tiny_shapes64.py', 60),
    'report': (None, 15),
}
ORDER = list(STAGES)
# sizes of the Shapes data (images per class / per split)
DATA_SIZES = dict(full=dict(cls_train=200, cls_val=50, seg_train=400,
                            seg_val=100),
                  quick=dict(cls_train=2, cls_val=1, seg_train=4, seg_val=2))
# The demo's teacher is a random-init DINOTeacher (timm ViT-Ti/16) unless a
# local DINO ViT-S/16 checkpoint is found: $BEIT2MM_DEMO_TEACHER, or timm's
# Hugging Face cache. Nothing is downloaded.
TEACHER_ENV = 'BEIT2MM_DEMO_TEACHER'
TEACHER_MODEL = 'vit_small_patch16_224.dino'
TEACHER_HF = 'models--timm--' + TEACHER_MODEL


class SkipStage(Exception):
    """A stage whose components are not there: reported as skipped."""


def find_teacher_weights():
    """A local DINO ViT-S/16 checkpoint: $BEIT2MM_DEMO_TEACHER, else timm's
    Hugging Face cache. None -> the teacher is randomly initialised."""
    path = os.environ.get(TEACHER_ENV)
    if path:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{TEACHER_ENV}={path} is not a file')
        return path
    hub = os.environ.get('HF_HUB_CACHE') or osp.join(
        os.environ.get('HF_HOME', osp.expanduser('~/.cache/huggingface')),
        'hub')
    for f in ('model.safetensors', 'pytorch_model.bin'):
        hits = sorted(glob.glob(osp.join(hub, TEACHER_HF, 'snapshots', '*',
                                         f)))
        if hits:
            return hits[-1]
    return None


def write_stage_config(path, base, overrides):
    """A config that inherits ``base`` and overrides some fields."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    lines = ['# Written by tools/demo.py: the stage config it ran.',
             f'_base_ = [{base!r}]']
    lines += [f'{k} = {v!r}' for k, v in overrides.items()]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


# tools/<name> -> the module whose main(argv) it runs (in-process launcher)
TOOL_MODULES = {'train.py': 'beit2mm.tools.train',
                'test.py': 'beit2mm.tools.test'}


def run_tool(tool, args, log_path, progress, launcher):
    """Run tools/<tool> with ``args``; stream its log for progress."""
    script = osp.join(ROOT, 'tools', tool)
    if not osp.isfile(script):
        raise SkipStage(f'tools/{tool} is missing')
    if launcher == 'inprocess':
        importlib.import_module(TOOL_MODULES[tool]).main(list(args))
        return
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    with open(log_path, 'w') as log:
        proc = subprocess.Popen([sys.executable, script] + list(args),
                                cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            log.write(line)
            log.flush()
            progress.on_log_line(line)
        rc = proc.wait()
    if rc:
        with open(log_path) as f:
            tail = ''.join(f.readlines()[-30:])
        raise RuntimeError(f'tools/{tool} failed (exit {rc}); last lines of '
                           f'{log_path}:\n{tail}')


def train_stage(ctx, stage, overrides):
    """Write the stage config, train it with tools/train.py; return the
    stage's work dir."""
    base = osp.join(PROJECT, STAGES[stage][0])
    if not osp.isfile(base):
        raise SkipStage(f'{osp.relpath(base, ROOT)} is missing')
    wd = osp.join(ctx['work_dir'], stage)
    overrides = dict(overrides)
    if ctx['quick']:
        overrides.update(
            train_cfg=dict(max_iters=2, val_interval=2),
            default_hooks=dict(logger=dict(interval=1),
                               checkpoint=dict(interval=2)))
    if ctx['launcher'] == 'inprocess':
        # mmengine keeps one visualizer per name for the whole process; give
        # each stage its own, so that its scalars land in its own work dir
        overrides['visualizer'] = dict(name=f'demo_{stage}_{id(ctx)}')
    cfg = write_stage_config(
        osp.join(ctx['work_dir'], 'configs', stage + '.py'), base, overrides)
    run_tool('train.py', [cfg, '--work-dir', wd] +
             (['--amp'] if ctx.get('amp') else []),
             osp.join(ctx['work_dir'], f'{stage}.log'), ctx['progress'],
             ctx['launcher'])
    ctx['results']['precision'] = run_precision(wd)
    return wd


def _data_overrides(root, loaders=('train', 'val', 'test')):
    return {f'{k}_dataloader': dict(dataset=dict(data_root=root))
            for k in loaders}


def _need(ctx, key, stage):
    if key not in ctx['results']:
        raise SkipStage(f'needs the output of the {stage} stage')
    return ctx['results'][key]


# ---------------------------------------------------------------- stages
def data(ctx):
    """Write the Shapes dataset (skipped when the same one is there)."""
    from .synthetic import write_demo_data
    root = osp.join(ctx['work_dir'], 'data')
    spec = dict(ctx['data_sizes'], size=64, seed=ctx['seed'])
    stamp = osp.join(root, 'spec.json')
    if not (osp.isfile(stamp) and json.load(open(stamp)) == spec):
        paths = write_demo_data(root, **spec)
        with open(stamp, 'w') as f:
            json.dump(spec, f)
    else:
        paths = dict(cls=osp.join(root, 'cls'), seg=osp.join(root, 'seg'))
    ctx['results'].update(cls_root=paths['cls'], seg_root=paths['seg'],
                          data_spec=spec)


def vqkd(ctx):
    """Train the tokenizer; codebook usage and reconstruction cosine on the
    held-out images."""
    o = _data_overrides(_need(ctx, 'cls_root', 'data'), ('train', 'val'))
    teacher = ctx.get('teacher_weights')
    if teacher:
        o['model'] = dict(teacher=dict(model_name=TEACHER_MODEL,
                                       pretrained=teacher))
    wd = train_stage(ctx, 'vqkd', o)
    _, val = read_scalars(wd)
    ctx['results'].update(
        vqkd_checkpoint=last_checkpoint(wd),
        teacher=(f'DINOTeacher {TEACHER_MODEL}, weights {teacher}' if teacher
                 else 'DINOTeacher vit_tiny_patch16_224, random init (no '
                 'local weights found)'),
        codebook_usage=last_value(val, 'vqkd/codebook_usage',
                                  'codebook_usage'),
        rec_cosine=last_value(val, 'vqkd/rec_cos', 'vqkd/rec_cosine'))


def pretrain(ctx):
    """BEiT v2 pretraining with the frozen tokenizer."""
    o = _data_overrides(_need(ctx, 'cls_root', 'data'), ('train', ))
    o['model'] = dict(tokenizer_ckpt=_need(ctx, 'vqkd_checkpoint', 'vqkd'))
    wd = train_stage(ctx, 'pretrain', o)
    train, _ = read_scalars(wd)
    ctx['results'].update(
        pretrain_checkpoint=last_checkpoint(wd),
        mim_acc=last_value(train, 'acc_mim'),
        mim_acc_aggregation=last_value(train, 'acc_cls_pt'))


def _downstream(ctx, stage, data_key, pretrained):
    """Train a downstream stage on ``data_key``'s data, from the pretrained
    backbone or from random init; return its val records and work dir."""
    o = _data_overrides(_need(ctx, data_key, 'data'))
    if pretrained:
        o['model'] = dict(backbone=dict(init_cfg=dict(
            checkpoint=_need(ctx, 'pretrain_checkpoint', 'pretrain'))))
    wd = train_stage(ctx, stage, o)
    return read_scalars(wd)[1], wd


def _probe(ctx, stage, key, pretrained):
    val, _ = _downstream(ctx, stage, 'cls_root', pretrained)
    ctx['results'][key] = last_value(val, 'accuracy/top1')


def lp(ctx):
    _probe(ctx, 'lp', 'linear_probe_acc', True)


def lp_random(ctx):
    _probe(ctx, 'lp_random', 'linear_probe_acc_random_init', False)


def _seg(ctx, stage, key, pretrained):
    val, wd = _downstream(ctx, stage, 'seg_root', pretrained)
    ctx['results'][key] = last_value(val, 'mIoU')
    ctx['results'][key + '_checkpoint'] = last_checkpoint(wd)


def seg(ctx):
    _seg(ctx, 'seg', 'miou', True)


def seg_random(ctx):
    _seg(ctx, 'seg_random', 'miou_random_init', False)


def report(ctx):
    write_report(ctx)
