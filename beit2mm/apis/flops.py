"""Matmul FLOPs of a call, counted with ``torch.utils.flop_counter``.

Shared by ``tools/benchmark.py`` (``beit2mm.tools.benchmark.roofline``)
and ``tools/analysis_tools/get_flops.py``. The counter sees the matrix
products (linear layers, attention, convolutions) and counts a
multiply-add as 2 FLOPs; elementwise ops, norms and softmax are not counted.
"""
import copy
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def _cpu_flash_sdpa_flop(query_shape, key_shape, value_shape, *args,
                         out_shape=None, **kwargs) -> int:
    """The CPU flash-attention kernel (SDPA without gradients on CPU), which
    torch's counter does not know: q k^T and p v, as for the other SDPA
    kernels and the explicit bmm path."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


CUSTOM_FLOP_MAPPING = {}
if hasattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu'):
    CUSTOM_FLOP_MAPPING[
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu] = \
        _cpu_flash_sdpa_flop


def _onednn_linear_flop(x_shape, w_shape, *args, out_shape=None,
                        **kwargs) -> int:
    """oneDNN's linear (the bf16 CPU inference path of
    ``beit2mm.models.utils.lowp_inference``): x (..., K) @ W (M, K)^T."""
    rows = 1
    for d in x_shape[:-1]:
        rows *= d
    return 2 * rows * w_shape[1] * w_shape[0]


if hasattr(torch.ops, 'mkldnn') and hasattr(torch.ops.mkldnn,
                                             '_linear_pointwise'):
    CUSTOM_FLOP_MAPPING[torch.ops.mkldnn._linear_pointwise] = \
        _onednn_linear_flop


def step_gflop(step: Callable) -> float:
    """Matmul GFLOP of one call of ``step`` (runs it once)."""
    with FlopCounterMode(display=False,
                         custom_mapping=CUSTOM_FLOP_MAPPING) as counter:
        step()
    return counter.get_total_flops() / 1e9


def input_size(cfg, kind: str) -> int:
    """The square input size a config's backbone runs at: the tokenizer's
    ``img_size``, else ``model.backbone.img_size`` (segmentation: its crop
    size, which the segmentation configs state as the backbone's)."""
    size = cfg.model.get('img_size') if kind == 'tokenizer' else \
        cfg.model.backbone.get('img_size', 224)
    if size is None:
        size = 224
    return size if isinstance(size, int) else int(size[0])


def backbone_flops(config, size=None, cfg_options=None,
                   device: str = 'cpu') -> dict:
    """GFLOPs (2 per multiply-add) and parameters of the backbone forward of
    any beit2mm config on one (1, 3, size, size) image (default: the
    config's input size; another size builds the model for it): the
    student ViT of a pretraining config, the tokenizer's encoder of a
    VQ-KD config, the backbone of a classifier or segmentor (without necks
    and heads; random weights, nothing downloaded).

    Returns dict(kind, input_shape, gflops, gmacs, params_m)."""
    import warnings

    from mmengine.config import Config

    from .inference import _kind, init_model
    cfg = Config.fromfile(config) if not isinstance(config, Config) \
        else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if size:  # build the model for that input size
        key = 'model.img_size' if _kind(cfg) == 'tokenizer' \
            else 'model.backbone.img_size'
        cfg.merge_from_dict({key: size})
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # 'no checkpoint, random init'
        model = init_model(cfg, None, device=device)
    size = size or input_size(model.cfg, model.kind)
    backbone = model.backbone
    x = torch.zeros(1, 3, size, size, device=device)
    with torch.no_grad():
        gflop = step_gflop(lambda: backbone.forward_features(x))
    params = sum(p.numel() for p in backbone.parameters())
    return dict(kind=model.kind, input_shape=(1, 3, size, size),
                gflops=gflop, gmacs=gflop / 2, params_m=params / 1e6)
