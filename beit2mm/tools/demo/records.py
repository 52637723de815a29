"""What a finished demo stage left in its work dir: the newest checkpoint,
the logged scalars and the precision that ran (read by the stages and the
report)."""
import glob
import json
import os.path as osp


def last_checkpoint(work_dir):
    """Path of the newest checkpoint mmengine wrote in ``work_dir``."""
    from beit2mm.engine.hooks.checkpoint_hook import read_last_checkpoint
    path = read_last_checkpoint(work_dir)
    if path is None:
        raise FileNotFoundError(f'no checkpoint in {work_dir}: the stage did '
                                'not finish; see its log there')
    return path


def read_scalars(work_dir):
    """The logged scalars of the newest run in ``work_dir``:
    (train records, val records), each a list of dicts with 'step'."""
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')))
    if not runs:
        return [], []
    train, val = [], []
    with open(runs[-1]) as f:
        for line in f:
            rec = json.loads(line)
            (train if 'lr' in rec or 'loss' in rec else val).append(rec)
    return train, val


def last_value(records, *keys):
    """The last logged value of the first key present (None if none)."""
    for rec in reversed(records):
        for k in keys:
            if k in rec:
                return float(rec[k])
    return None


def run_precision(work_dir):
    """The precision line that AmpOptimWrapper logged in the newest run of
    ``work_dir`` (e.g. 'bf16 autocast on cpu, no loss scaler'), or 'fp32'."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    if logs:
        with open(logs[-1]) as f:
            for line in f:
                if ' - AMP: ' in line:
                    return line.split(' - AMP: ', 1)[1].strip()
    return 'fp32'
