"""Plot any scalar of training runs against reference curves, or list the
scalars / time per iteration (as mmpretrain's analyze_logs.py), reading
mmengine's <work_dir>/<timestamp>/vis_data/scalars.json.

    python tools/analysis_tools/analyze_logs.py plot_curve WORK_DIR [...] \
        [--keys loss mim_acc_1] [--reference demo[:RUN] ...] [--out F.png]
    python tools/analysis_tools/analyze_logs.py list WORK_DIR
    python tools/analysis_tools/analyze_logs.py cal_train_time WORK_DIR
    python tools/analysis_tools/analyze_logs.py save_reference WORK_DIR [...] \
        --legend RUN [...] --out REF.json --description TEXT --source TEXT

References are docs/reference_curves/*.json (by name) or any file of that
format: 'demo' (the `make demo` VQ-KD and pretraining runs, runs 'vqkd' /
'pretrain'), 'official' (values the official BEiT v2 repository publishes).
Without ':RUN' the reference run sharing the most scalars is drawn.
"""
import argparse
import json
import os
import os.path as osp


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('task', choices=['plot_curve', 'list',
                                         'cal_train_time', 'save_reference'])
    parser.add_argument('logs', nargs='+',
                        help='work dirs, timestamp folders or scalars.json')
    parser.add_argument('--keys', nargs='+', help='scalars to plot '
                        '(default: all but time, data_time, base_lr)')
    parser.add_argument('--legend', nargs='+', help='one label per log')
    parser.add_argument('--reference', nargs='+', default=[],
                        help='NAME[:RUN] or FILE[:RUN] of reference curves')
    parser.add_argument('--x', default='iter', choices=['iter', 'epoch'],
                        help='x axis: iteration or epoch')
    parser.add_argument('--title')
    parser.add_argument('--out', default='work_dirs/curves.png')
    parser.add_argument('--description', default='',
                        help='save_reference: what the runs are')
    parser.add_argument('--source', default='',
                        help='save_reference: where the numbers come from')
    return parser.parse_args(argv)


def _split_reference(spec):
    name, _, run = spec.partition(':')
    if run and osp.isfile(spec) and not osp.isfile(name):
        return spec, None  # a path with a colon
    return name, run or None


def main(argv=None):
    args = parse_args(argv)
    from beit2mm.visualization import logs as L
    labels = args.legend or [osp.basename(osp.normpath(p))
                             for p in args.logs]
    if len(labels) != len(args.logs):
        raise SystemExit(f'--legend has {len(labels)} labels for '
                         f'{len(args.logs)} logs')
    runs = {lab: L.load_scalars(p, args.x) for lab, p in
            zip(labels, args.logs)}
    if args.task == 'list':
        for lab, scalars in runs.items():
            print(f'{lab}:')
            for key, (xs, _) in sorted(scalars.items()):
                print(f'  {key:32s} {len(xs):5d} points, {args.x} '
                      f'{xs[0]:g}..{xs[-1]:g}')
        return 0
    if args.task == 'cal_train_time':
        for lab, scalars in runs.items():
            print(f'{lab}: {json.dumps(L.train_time(scalars))}')
        return 0
    if args.task == 'save_reference':
        if not (args.description and args.source):
            raise SystemExit('save_reference needs --description and '
                             '--source (every reference number is cited)')
        name = osp.splitext(osp.basename(args.out))[0]
        ref = L.reference_from_runs(runs, name, args.description,
                                    args.source, args.keys)
        L.dump_reference(ref, args.out)
        print(f'{args.out}: {len(ref["curves"])} curves, '
              f'{len(ref["levels"])} levels')
        return 0
    keys = args.keys or sorted(set().union(
        *[set(L.default_keys(s)) for s in runs.values()]))
    references = []
    for spec in args.reference:
        name, run = _split_reference(spec)
        ref = L.load_reference(name)
        run = run or L.pick_run(ref, keys)
        if run is not None and run not in L.reference_runs(ref):
            raise SystemExit(f'reference {name!r} has no run {run!r}; it has '
                             f'{L.reference_runs(ref)}')
        references.append((ref, run))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    drawn = L.plot_scalars(runs, keys, args.out, references,
                           x_label='epoch' if args.x == 'epoch'
                           else 'iteration', title=args.title)
    for key, lines in drawn.items():
        print(f'{key}: {", ".join(lines)}')
    print(args.out)
    return 0

