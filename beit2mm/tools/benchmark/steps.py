"""What one timed step is: a synthetic batch with BEiT v2 masks, a training
step with the config's optimizer and clipping, or a no-grad tokenizer call;
for ours and, with ``--compare-mmpretrain``, mmpretrain's doing the same
work."""
import os.path as osp
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional

import torch
import torch.nn as nn

from beit2mm.apis.zoo import ROOT
from .builders import build_ours_mim, build_ours_tokenizer, build_ours_vqkd
from .mmpretrain import (build_theirs_mim, build_theirs_tokenizer, load_into,
                         mim_state_for_mmpretrain,
                         tokenizer_state_for_mmpretrain)


class Batch:
    """Synthetic two-view batch and BEiT v2 block-wise masks."""

    def __init__(self, args, device):
        from beit2mm.datasets.transforms import BlockwiseMaskGenerator
        from beit2mm.models.algorithms.beitv2_data_preprocessor import \
            masked_query_index
        g = torch.Generator().manual_seed(args.seed)
        B, S = args.batch_size, args.img_size
        grid = S // 16
        self.img = torch.randn(B, 3, S, S, generator=g).to(device)
        self.img_tok = torch.rand(B, 3, S, S, generator=g).mul(2).sub(1)
        self.img_tok = self.img_tok.to(device)
        # 75 of 196 patches as in BEiT v2 (same fraction for other grids)
        n_mask = max(1, round(75 / 196 * grid * grid))
        gen = BlockwiseMaskGenerator(input_size=grid,
                                     num_masking_patches=n_mask,
                                     min_num_patches=min(16, n_mask))
        masks = [torch.as_tensor(gen(dict())['mask']) for _ in range(B)]
        self.mask2d = torch.stack(masks).bool()  # (B, h, w)
        mask = self.mask2d.flatten(1)
        self.mask_index = mask.flatten().nonzero().squeeze(1).to(device)
        # host-side, as BEiTv2DataPreprocessor gives it
        self.query_index = masked_query_index(mask).to(device)
        self.mask = mask.to(device)
        self.mask2d = self.mask2d.to(device)


def autocast(args):
    if args.amp is None:
        return nullcontext()
    dtype = torch.bfloat16 if args.amp == 'bf16' else torch.float16
    return torch.autocast(device_type=args.device, dtype=dtype)


SCHEDULES = {'mim': 'beitv2_300e.py', 'vqkd': 'vqkd_100e.py'}


def config_optimizer(model: nn.Module, args):
    """(optimizer, clip max_norm or None) exactly as the task's config
    builds them (mmengine constructor, paramwise_cfg groups)."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'schedules',
                                   SCHEDULES[args.task]))
    ow = cfg.optim_wrapper.to_dict()
    ow.pop('loss_scale', None)  # the step's own GradScaler does fp16
    clip = (ow.pop('clip_grad', None) or {}).get('max_norm')
    ow['type'] = 'OptimWrapper'
    if args.fused_adamw:
        ow['optimizer']['fused'] = True
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()  # quiet: stdout is JSON only
    level = logger.level
    logger.setLevel('ERROR')  # e.g. 'frozen ... is skipped' notes
    try:
        return build_optim_wrapper(model, ow).optimizer, clip
    finally:
        logger.setLevel(level)


class TrainStep:
    """forward (loss fn) -> backward -> the config's clipping -> the
    config's AdamW and parameter groups (:func:`config_optimizer`)."""

    def __init__(self, model: nn.Module, loss_fn: Callable, args):
        self.model, self.loss_fn, self.args = model, loss_fn, args
        params = [p for p in model.parameters() if p.requires_grad]
        self.params = params
        self.opt, self.clip = config_optimizer(model, args)
        self.scaler = torch.amp.GradScaler('cuda') \
            if args.amp == 'fp16' else None
        if args.compile:
            self.loss_fn = torch.compile(loss_fn)
        model.train()

    def __call__(self):
        self.opt.zero_grad(set_to_none=True)
        with autocast(self.args):
            losses = self.loss_fn()
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.clip is not None:
                self.scaler.unscale_(self.opt)
                torch.nn.utils.clip_grad_norm_(self.params, self.clip)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            if self.clip is not None:
                torch.nn.utils.clip_grad_norm_(self.params, self.clip)
            self.opt.step()
        return loss.detach()

    def persistent(self) -> List[torch.Tensor]:
        ts = list(self.model.state_dict(keep_vars=True).values())
        for name in ('tokenizer', 'teacher'):  # held outside state_dict()
            extra = getattr(self.model, name, None)
            if isinstance(extra, nn.Module):
                ts += list(extra.state_dict().values())
        for st in self.opt.state.values():
            ts += [v for v in st.values() if torch.is_tensor(v)]
        return ts


class InferStep:
    """no-grad call of a tokenizer (``persistent`` for the memory report)."""

    def __init__(self, module: nn.Module, fn: Callable, args):
        self.module, self.args = module, args
        self.fn = torch.compile(fn) if args.compile else fn

    def __call__(self):
        with torch.no_grad(), autocast(self.args):
            return self.fn()

    def persistent(self) -> List[torch.Tensor]:
        return list(self.module.state_dict().values())


def build_steps(args, arch, device) -> Dict[str, object]:
    """name -> step callable; the first is ours."""
    batch = Batch(args, device)
    steps = {}
    if args.task == 'mim':
        ours = build_ours_mim(arch, args).to(device)
        steps['beit2mm'] = TrainStep(ours, lambda: ours(
            [batch.img, batch.img_tok], mode='loss', mask=batch.mask,
            mask_index=batch.mask_index, query_index=batch.query_index),
            args)
        if args.compare_mmpretrain:
            from mmpretrain.structures import DataSample
            theirs = build_theirs_mim(arch, args)
            load_into(theirs, mim_state_for_mmpretrain(ours))
            theirs.to(device)
            samples = [DataSample() for _ in range(args.batch_size)]
            for s, m in zip(samples, batch.mask2d):
                s.set_mask(m)
            steps['mmpretrain'] = TrainStep(theirs, lambda: theirs.loss(
                [batch.img, batch.img_tok], samples), args)
    elif args.task == 'tokenize':
        ours = build_ours_tokenizer(arch, args).to(device)
        steps['beit2mm'] = InferStep(
            ours, lambda: ours.get_tokens(batch.img_tok), args)
        if args.compare_mmpretrain:
            for mode in ('train', 'eval'):
                theirs = build_theirs_tokenizer(arch, args)
                load_into(theirs, tokenizer_state_for_mmpretrain(ours))
                theirs.to(device).train(mode == 'train')
                steps[f'mmpretrain:{mode}'] = InferStep(
                    theirs, (lambda t: lambda: t(batch.img_tok))(theirs),
                    args)
    else:
        ours = build_ours_vqkd(arch, args).to(device)
        steps['beit2mm'] = TrainStep(
            ours, lambda: ours(batch.img_tok, mode='loss'), args)
    return steps


def amp_agreement(args, steps) -> Optional[float]:
    """tokenize with --amp: share of our ids under autocast that equal the
    fp32 ids (bf16 tokenization is only worth it where this is ~1)."""
    if args.task != 'tokenize' or args.amp is None:
        return None
    step = steps['beit2mm']
    low = step()
    with torch.no_grad():
        full = step.fn()
    return (low == full).float().mean().item()


def check_same_work(args, steps) -> Optional[float]:
    """Token agreement (tokenize) or loss difference (mim) of the two
    implementations on the same batch and weights, before timing."""
    if not args.compare_mmpretrain:
        return None
    if args.task == 'tokenize':
        ours = steps['beit2mm']().flatten(1)
        theirs = steps['mmpretrain:eval']().flatten(1)
        return (ours == theirs.view_as(ours)).float().mean().item()
    ours, theirs = steps['beit2mm'], steps['mmpretrain']
    with torch.no_grad(), autocast(args):
        a = ours.loss_fn()
        b = theirs.loss_fn()
        la = (a['loss_mim'] + a['loss_cls_pt']).item()
        lb = (b['loss_1'] + b['loss_2']).item()
    return abs(la - lb) / max(abs(lb), 1e-12)

