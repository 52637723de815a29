# Paper Table 6 (VQ-KD teachers): linear probe of the DINO-tokenizer model of
# configs/ablations/beitv2_vit-b_dino-vqkd_300e.py (the CLIP row:
# configs/benchmarks/linear-probe_beitv2_vit-b_in1k.py). The paper's Table 6
# number for the DINO row: not found in the paper text available.
#   tools/dist_train.sh configs/ablations/linear-probe_beitv2_vit-b_dino-vqkd_300e_in1k.py 8
_base_ = '../benchmarks/linear-probe_beitv2_vit-b_in1k.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/beitv2_vit-b_dino-vqkd_300e/epoch_300.pth')))
