"""Scalars of a training run (mmengine's ``vis_data/scalars.json``) and
reference curves to compare them with.

- :func:`load_scalars`: a work dir (every run of it, resumes included), a
  run's timestamp folder or a ``scalars.json`` / ``<timestamp>.json`` file
  -> ``{key: (steps, values)}``.
- :func:`load_reference`: a reference file of ``docs/reference_curves/``
  (by name or path) -> curves and levels, each with its source.
- :func:`plot_scalars`: one panel per key; runs as solid lines, reference
  curves dashed, reference levels (published final values) dotted.

Reference files are JSON::

    {"name": ..., "description": ...,
     "curves": [{"run": "vqkd", "key": "loss", "x": [...], "y": [...],
                 "source": ...}],
     "levels": [{"run": ..., "key": "codebook_usage", "value": 97.0,
                 "label": ..., "source": ...}]}
"""
import glob
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .codebook import _plt

Series = Tuple[np.ndarray, np.ndarray]
# keys that index a record rather than measure something
INDEX_KEYS = ('iter', 'step', 'epoch')
# measured but rarely what one looks at; plotted only when asked for
DEFAULT_SKIP = ('time', 'data_time', 'base_lr', 'memory')
REFERENCE_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'docs', 'reference_curves')


def scalar_files(path: str) -> List[str]:
    """The scalar log files ``path`` stands for, oldest run first: the file
    itself, or every ``**/vis_data/scalars.json`` below a folder (a resumed
    run writes one per timestamp folder)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(
            f'{path!r} is neither a work dir nor a scalars file; give the '
            f'--work-dir of a run (or its vis_data/scalars.json).')
    files = sorted(glob.glob(osp.join(path, '**', 'vis_data', 'scalars.json'),
                             recursive=True))
    if not files:
        raise FileNotFoundError(
            f'no vis_data/scalars.json under {path!r}: mmengine writes it '
            f'into <work_dir>/<timestamp>/vis_data/ with the '
            f'LocalVisBackend (the default visualizer of beit2mm configs).')
    return files


def load_scalars(path: str, x: str = 'iter') -> Dict[str, Series]:
    """``{key: (steps, values)}`` of every numeric scalar in the log(s) of
    ``path`` (see :func:`scalar_files`), sorted by step; a step logged
    twice (a resumed run repeats some) keeps the later value.

    x: 'iter' (train lines: their ``iter``; validation lines, which have
    none: the iteration of the train line before them) or 'epoch' /
    'step' (the record's own, else its ``step``).
    """
    table: Dict[str, Dict[float, float]] = {}
    for file in scalar_files(path):
        last_iter = None
        with open(file) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                if 'iter' in rec:
                    last_iter = rec['iter']
                if x == 'iter' and 'iter' not in rec:
                    # a validation line: mmengine's step is the epoch (0 in
                    # iteration-based runs); it ran after the last train line
                    step = last_iter if last_iter is not None \
                        else rec.get('step')
                else:
                    step = rec.get(x, rec.get('step'))
                if step is None:
                    continue
                for key, value in rec.items():
                    if key in INDEX_KEYS or isinstance(value, bool) or \
                            not isinstance(value, (int, float)):
                        continue
                    table.setdefault(key, {})[float(step)] = float(value)
    out = {}
    for key, points in table.items():
        steps = np.array(sorted(points))
        out[key] = (steps, np.array([points[s] for s in steps]))
    return out


def default_keys(scalars: Dict[str, Series]) -> List[str]:
    return sorted(k for k in scalars if k not in DEFAULT_SKIP)


def load_reference(name_or_path: str) -> dict:
    """A reference file: a path, or a name of ``docs/reference_curves/``
    (without ``.json``)."""
    path = name_or_path
    if not osp.isfile(path):
        path = osp.join(REFERENCE_DIR, f'{name_or_path}.json')
    if not osp.isfile(path):
        names = sorted(osp.splitext(f)[0] for f in os.listdir(REFERENCE_DIR)
                       if f.endswith('.json')) \
            if osp.isdir(REFERENCE_DIR) else []
        raise FileNotFoundError(
            f'no reference {name_or_path!r}: give a JSON file or one of '
            f'{names} (docs/reference_curves/).')
    with open(path) as f:
        ref = json.load(f)
    ref.setdefault('name', osp.splitext(osp.basename(path))[0])
    ref.setdefault('curves', [])
    ref.setdefault('levels', [])
    return ref


def reference_runs(ref: dict) -> List[str]:
    return sorted({c['run'] for c in ref['curves'] + ref['levels']})


def pick_run(ref: dict, keys: Sequence[str]) -> Optional[str]:
    """The reference run sharing the most keys with ``keys`` (None: no
    reference run has any of them)."""
    best, best_n = None, 0
    for run in reference_runs(ref):
        have = {c['key'] for c in ref['curves'] + ref['levels']
                if c['run'] == run}
        n = len(have & set(keys))
        if n > best_n:
            best, best_n = run, n
    return best


def reference_series(ref: dict, run: Optional[str], key: str
                     ) -> Tuple[List[dict], List[dict]]:
    """(curves, levels) of ``ref`` for ``key`` (and ``run`` unless None)."""
    def match(c):
        return c['key'] == key and (run is None or c['run'] == run)
    return ([c for c in ref['curves'] if match(c)],
            [lv for lv in ref['levels'] if match(lv)])


def plot_scalars(runs: Dict[str, Dict[str, Series]], keys: Sequence[str],
                 path: str, references: Sequence[Tuple[dict, Optional[str]]]
                 = (), x_label: str = 'iteration',
                 title: Optional[str] = None, ncols: int = 2) -> dict:
    """One panel per key: every run's series (solid), the references'
    curves (dashed) and levels (dotted horizontal lines).

    runs: {label: load_scalars(...)}; references: (reference, run or None).
    Returns what the picture shows: {key: {line label: (x, y)}} (a level's
    x is None).
    """
    if not keys:
        raise ValueError('nothing to plot: no keys given or found')
    missing = [k for k in keys
               if not any(k in s for s in runs.values())
               and not any(sum(reference_series(r, run, k), [])
                           for r, run in references)]
    if missing:
        have = sorted(set().union(*[set(s) for s in runs.values()]))
        raise KeyError(f'no run or reference has {missing}; the logs have '
                       f'{have}')
    plt = _plt()
    ncols = max(1, min(ncols, len(keys)))
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols,
                                                    3.4 * nrows),
                             squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.axis('off')
    drawn = {}
    for ax, key in zip(axes.flat, keys):
        drawn[key] = {}
        color = 0
        for label, scalars in runs.items():
            if key in scalars:
                xs, ys = scalars[key]
                ax.plot(xs, ys, '-', color=f'C{color}', lw=1.6,
                        marker='.' if len(xs) < 30 else None, label=label)
                drawn[key][label] = (np.asarray(xs), np.asarray(ys))
            color += 1
        for ref, run in references:
            curves, levels = reference_series(ref, run, key)
            for c in curves:
                label = f'{ref["name"]}: {c["run"]} (reference)'
                ax.plot(c['x'], c['y'], '--', color=f'C{color}', lw=1.2,
                        label=label)
                drawn[key][label] = (np.asarray(c['x']), np.asarray(c['y']))
                color += 1
            for lv in levels:
                label = f'{ref["name"]}: {lv.get("label", lv["run"])}'
                ax.axhline(lv['value'], ls=':', color=f'C{color}', lw=1.4,
                           label=f'{label} = {lv["value"]:g}')
                drawn[key][label] = (None, np.asarray([lv['value']]))
                color += 1
        ax.set_title(key, fontsize=11)
        ax.set_xlabel(x_label, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc='best')
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return drawn


def train_time(scalars: Dict[str, Series]) -> dict:
    """Seconds per iteration (mmengine's ``time``: mean, slowest, fastest
    logged window) and the mean ``data_time``."""
    if 'time' not in scalars:
        raise KeyError('the log has no "time" scalar (train lines of '
                       'mmengine logs have it)')
    t = scalars['time'][1]
    out = dict(mean_s=float(t.mean()), max_s=float(t.max()),
               min_s=float(t.min()), windows=int(t.size))
    if 'data_time' in scalars:
        out['data_mean_s'] = float(scalars['data_time'][1].mean())
    return out


def reference_from_runs(runs: Dict[str, Dict[str, Series]], name: str,
                        description: str, source: str,
                        keys: Optional[Sequence[str]] = None,
                        digits: int = 5) -> dict:
    """A reference (the format above) from runs' scalars: one curve per run
    and key (``keys`` or :func:`default_keys`), values to ``digits``
    significant digits; a key logged once becomes a level."""
    curves, levels = [], []
    for run, scalars in runs.items():
        for key in keys or default_keys(scalars):
            if key not in scalars:
                continue
            xs, ys = scalars[key]
            ys = [float(f'{v:.{digits}g}') for v in ys]
            if len(xs) > 1:
                curves.append(dict(run=run, key=key,
                                   x=[float(f'{v:g}') for v in xs], y=ys,
                                   source=source))
            else:
                levels.append(dict(run=run, key=key, value=ys[0],
                                   label=f'{run} at {xs[0]:g}',
                                   source=source))
    return dict(name=name, description=description, curves=curves,
                levels=levels)


def dump_reference(ref: dict, path: str) -> None:
    """Write a reference file, one curve / level per line (readable diffs)."""
    head = {k: v for k, v in ref.items() if k not in ('curves', 'levels')}
    parts = [json.dumps(head, indent=1)[:-2]]
    for field in ('curves', 'levels'):
        rows = ',\n  '.join(json.dumps(r) for r in ref.get(field, []))
        parts.append(f',\n "{field}": [\n  {rows}\n ]' if rows
                     else f',\n "{field}": []')
    with open(path, 'w') as f:
        f.write(''.join(parts) + '\n}\n')
