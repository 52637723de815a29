# Small-data VQ-KD preset: the CLIP-teacher recipe for your own (small) image
# folder without codebook collapse. Four changes to the paper's tokenizer,
# every one a deliberate difference (paper: 8192 codes, no restart, EMA decay
# 0.99):
# 1. codebook size from the data: K = the largest power of two <= P / 512,
#    clipped to [32, 8192], where P = training images x patches per image,
#    so every code can be the nearest one of >= 512 training patches per
#    epoch (ImageNet-1k: P = 1.28M x 196 -> the paper's 8192; 10k images at
#    224 px -> 2048; the demo's 1200 images at 64 px / patch 8 -> 128).
# 2. dead-code restart on: a code whose EMA count falls below 1/16 of the
#    uniform share of assignments per step (batch x patches / K) is moved to
#    a random encoder output of the current batch (NormEMAQuantizer).
# 3. EMA decay 0.9: the codebook follows the encoder within ~10 steps (0.99
#    averages over ~100, fine for the paper's 250k steps; on the demo's data,
#    5 epochs, restart on: 0.99 leaves 41 % of the codes used, 0.9 uses all,
#    docs/paper_tables.md).
# 4. codebook usage and perplexity logged every interval and every epoch
#    (CodebookUsageHook by_epoch) and on val (VQKDMetric): usage well below
#    100 % or a perplexity far below K is the collapse signal.
# Set num_train_images (and the data paths) for your data:
#   tools/dist_train.sh configs/vqkd/small_data/vqkd_vit-b_clip-b16_small-data.py 8 \
#     --cfg-options train_dataloader.dataset.data_root=MY_DATA
# (num_codes is computed when the config is read: edit num_train_images in a
# config that inherits this one.)
# Demonstration on the demo's data: docs/paper_tables.md (small data).
_base_ = ['../vqkd_vit-b_clip-b16_100e_in1k.py']

num_train_images = 10000          # your training set
patches_per_image = (224 // 16)**2
batch_per_gpu = 64                # the recipe's
patches_per_code = 512
num_codes = max(32, min(8192, 1 << (
    (num_train_images * patches_per_image // patches_per_code).bit_length()
    - 1)))
dead_code_threshold = batch_per_gpu * patches_per_image / num_codes / 16

decay = 0.9

model = dict(num_codes=num_codes, dead_code_threshold=dead_code_threshold,
             decay=decay)
train_dataloader = dict(batch_size=batch_per_gpu)
val_evaluator = dict(num_codes=num_codes)
test_evaluator = val_evaluator
custom_hooks = [dict(type='beit2mm.CodebookUsageHook', interval=100,
                     by_epoch=True)]
