"""The last stage of `make demo`: report.json, report.md and the pictures.

Pictures (in <work-dir>/pictures/):
  codebook.png     image patches grouped by code (the paper's Fig. 4)
  token_maps.png   held-out images and their token-id maps
  curves.png       loss / accuracy curves of every training stage
  segmentation.png ground truth vs. predictions, pretrained and random init
"""
import json
import os
import os.path as osp
import platform
import time

import numpy as np

from .records import read_scalars

# report.json keys every run has (None when the stage was skipped)
KEYS = ('codebook_usage', 'rec_cosine', 'mim_acc', 'linear_probe_acc',
        'linear_probe_acc_random_init', 'miou', 'miou_random_init')
# what to plot: panel -> [(stage, logged key, label)]
CURVES = {
    'VQ-KD tokenizer': [('vqkd', 'loss_rec', 'loss_rec'),
                        ('vqkd', 'codebook_usage', 'codebook_usage %')],
    'BEiT v2 pretraining': [
        ('pretrain', 'loss_mim', 'loss_mim'),
        ('pretrain', 'loss_cls_pt', 'loss_cls_pt (aggregation)'),
        ('pretrain', 'acc_mim', 'acc_mim %'),
        ('pretrain', 'acc_cls_pt', 'acc_cls_pt %')],
    'linear probe': [('lp', 'loss', 'loss, pretrained'),
                     ('lp_random', 'loss', 'loss, random init')],
    'UperNet segmentation': [
        ('seg', 'decode.loss_ce', 'loss_ce, pretrained'),
        ('seg_random', 'decode.loss_ce', 'loss_ce, random init')],
}


def load_val_images(cls_root, limit=None):
    """The held-out classification images: (N, H, W, 3) uint8, labels."""
    from PIL import Image
    val = osp.join(cls_root, 'val')
    images, labels = [], []
    for c, name in enumerate(sorted(os.listdir(val))):
        files = sorted(os.listdir(osp.join(val, name)))
        for f in files[:limit]:
            images.append(np.asarray(Image.open(osp.join(val, name, f))
                                     .convert('RGB')))
            labels.append(c)
    return np.stack(images), np.array(labels)


def tokenize(ctx, images):
    """Token ids (N, h, w) of uint8 images with the trained tokenizer."""
    import torch
    from mmengine.config import Config
    from beit2mm.models import VQKDTokenizer
    cfg = Config.fromfile(osp.join(ctx['work_dir'], 'configs', 'vqkd.py'))
    m = dict(cfg.model)
    for k in ('type', 'teacher', 'data_preprocessor'):
        m.pop(k, None)
    tok = VQKDTokenizer.from_checkpoint(ctx['results']['vqkd_checkpoint'],
                                        teacher=None, **m).eval()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        ids = torch.cat([tok.get_tokens(b) for b in x.split(100)])
    return ids.numpy(), tok.num_codes


def segment(ctx, stage, images_dir, names):
    """Predicted label maps of a trained segmentation stage, (N, H, W)."""
    from mmseg.apis import inference_model, init_model
    model = init_model(osp.join(ctx['work_dir'], 'configs', stage + '.py'),
                       ctx['results'][f'{_SEG_KEY[stage]}_checkpoint'],
                       device='cpu')
    preds = []
    for n in names:
        r = inference_model(model, osp.join(images_dir, n + '.jpg'))
        preds.append(r.pred_sem_seg.data[0].numpy())
    return np.stack(preds)


_SEG_KEY = {'seg': 'miou', 'seg_random': 'miou_random_init'}


def pictures(ctx, out):
    """Draw every picture whose inputs exist; return {name: file}."""
    from beit2mm.visualization.codebook import (codebook_figure,
                                                curves_figure,
                                                segmentation_figure,
                                                token_map_figure)
    res, made = ctx['results'], {}
    os.makedirs(out, exist_ok=True)
    if 'vqkd_checkpoint' in res:
        images, _ = load_val_images(res['cls_root'])
        ids, k = tokenize(ctx, images)
        res['num_codes'] = k
        res['codebook_usage_val_images'] = float(
            len(np.unique(ids)) / k * 100)
        f = osp.join(out, 'codebook.png')
        codebook_figure(images, ids, f, num_codes=8, per_code=14,
                        title='VQ-KD codes: held-out image patches grouped '
                        'by code (cf. paper Fig. 4)')
        made['codebook'] = f
        pick = np.linspace(0, len(images) - 1, 8).astype(int)
        f = osp.join(out, 'token_maps.png')
        token_map_figure(images[pick], ids[pick], f, num_codes=k,
                         title='Held-out images and their VQ-KD token ids')
        made['token_maps'] = f
    curves = {}
    logs = {}
    for panel, lines in CURVES.items():
        q = {}
        for stage, key, label in lines:
            if stage not in logs:
                logs[stage] = read_scalars(osp.join(ctx['work_dir'], stage))[0]
            pts = [(r['step'], r[key]) for r in logs[stage] if key in r]
            if pts:
                q[label] = tuple(zip(*pts))
        if q:
            curves[panel] = q
    if curves:
        f = osp.join(out, 'curves.png')
        curves_figure(curves, f)
        made['curves'] = f
    if 'miou_checkpoint' in res and 'miou_random_init_checkpoint' in res:
        from PIL import Image
        from .synthetic import SEG_PALETTE
        ann = osp.join(res['seg_root'], 'annotations', 'validation')
        img_dir = osp.join(res['seg_root'], 'images', 'validation')
        names = [n[:-4] for n in sorted(os.listdir(ann))][:8]
        imgs = np.stack([np.asarray(Image.open(osp.join(img_dir, n + '.jpg'))
                                    .convert('RGB')) for n in names])
        gt = np.stack([np.asarray(Image.open(osp.join(ann, n + '.png')))
                       for n in names]).astype(np.int64) - 1
        gt[gt < 0] = 255  # reduce_zero_label
        maps = {'ground truth': gt,
                'pretrained': segment(ctx, 'seg', img_dir, names),
                'random init': segment(ctx, 'seg_random', img_dir, names)}
        f = osp.join(out, 'segmentation.png')
        segmentation_figure(imgs, maps, SEG_PALETTE, f,
                            title='UperNet on held-out images (white: '
                            'unlabelled)')
        made['segmentation'] = f
    return made


def _fmt(v, unit='', digits=1):
    return 'skipped' if v is None else f'{v:.{digits}f}{unit}'


def write_markdown(path, rep, made):
    r = rep
    lines = [
        '# BEiT v2 demo report', '',
        f'Total time {r["seconds"]:.0f} s on {r["machine"]} '
        f'({time.strftime("%Y-%m-%d %H:%M", time.gmtime())} UTC).', '',
        '| stage | number | value | what it means |',
        '|---|---|---|---|',
        f'| VQ-KD tokenizer | codebook_usage | '
        f'{_fmt(r["codebook_usage"], " %")} | codes used on the held-out '
        'images (paper: 97-100 %) |',
        f'| | rec_cosine | {_fmt(r["rec_cosine"], digits=3)} | cosine between decoded '
        'codes and teacher features, held-out images (1 = perfect) |',
        f'| pretraining | mim_acc | {_fmt(r["mim_acc"], " %")} | masked '
        f'patches whose token is predicted right (chance '
        f'{r.get("mim_chance", 0):.1f} %; last training iterations) |',
        f'| linear probe | linear_probe_acc | '
        f'{_fmt(r["linear_probe_acc"], " %")} | top-1, held-out images, '
        'pretrained backbone |',
        f'| | linear_probe_acc_random_init | '
        f'{_fmt(r["linear_probe_acc_random_init"], " %")} | same probe, '
        'random-init backbone |',
        f'| UperNet | miou | {_fmt(r["miou"], " %")} | mean IoU over the 7 '
        'classes, held-out images, pretrained backbone |',
        f'| | miou_random_init | {_fmt(r["miou_random_init"], " %")} | same '
        'fine-tuning from a random-init backbone |', '',
        f'Teacher: {r.get("teacher", "n/a")}. Precision: '
        f'{r.get("precision") or "fp32"}.', '',
        '## Stages', '', '| stage | status | seconds |', '|---|---|---|']
    for s, st in r['status'].items():
        lines.append(f'| {s} | {st} | {r["stage_seconds"].get(s, 0):.0f} |')
    lines += ['', 'Each stage ran `tools/train.py` on the config written to '
              '`configs/<stage>.py` in this folder; rerun any of them by hand '
              'with `python tools/train.py <that config>`.', '']
    titles = dict(codebook='Image patches grouped by code (paper Fig. 4)',
                  token_maps='Token-id maps', curves='Training curves',
                  segmentation='Segmentation, pretrained vs. random init')
    for k, f in made.items():
        lines += [f'## {titles[k]}', '',
                  f'![{k}]({osp.relpath(f, osp.dirname(path))})', '']
    with open(path, 'w') as fh:
        fh.write('\n'.join(lines))


def write_report(ctx):
    """report.json + report.md (+ pictures) in ctx['work_dir']."""
    wd = ctx['work_dir']
    made = pictures(ctx, osp.join(wd, 'pictures'))
    res = ctx['results']
    rep = {k: res.get(k) for k in KEYS}
    rep.update(
        seconds=round(sum(ctx['seconds'].values()) +
                      time.time() - ctx['progress'].stage_t0, 1),
        stage_seconds=dict(ctx['seconds']),
        status=dict(ctx['status'], report='done'),
        teacher=res.get('teacher'),
        precision=res.get('precision', 'fp32'),
        mim_acc_aggregation=res.get('mim_acc_aggregation'),
        mim_chance=100. / res.get('num_codes', 128),
        codebook_usage_val_images=res.get('codebook_usage_val_images'),
        quick=ctx['quick'],
        machine=f'{platform.machine()}, {os.cpu_count()} CPU cores',
        pictures={k: osp.relpath(f, wd) for k, f in made.items()})
    rep['stage_seconds']['report'] = round(
        time.time() - ctx['progress'].stage_t0, 1)
    with open(osp.join(wd, 'report.json'), 'w') as f:
        json.dump(rep, f, indent=1)
    write_markdown(osp.join(wd, 'report.md'), rep, made)
    return rep
