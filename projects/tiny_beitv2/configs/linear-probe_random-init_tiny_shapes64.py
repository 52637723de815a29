# The baseline of stage 3: the same linear probe on a randomly initialised
# backbone (the official BEiT init, never trained).
_base_ = ['./linear-probe_beitv2_tiny_shapes64.py']

model = dict(backbone=dict(init_cfg=None))
