# The baseline of stage 4: the same UperNet fine-tuning from a randomly
# initialised backbone (the official BEiT init).
_base_ = ['./upernet_beitv2_tiny_shapes64.py']

model = dict(backbone=dict(init_cfg=None))
