# The demo's tokenizer with the small-data preset of
# vqkd_vit-b_clip-b16_small-data.py (same rules, demo numbers): K from the
# number of training patches, dead-code restart on, EMA decay 0.9, usage /
# perplexity per epoch. Everything else as vqkd_tiny_shapes64_paper-settings.py.
_base_ = ['./vqkd_tiny_shapes64_paper-settings.py']

num_train_images = 1200           # Shapes: 6 classes x 200
patches_per_image = (64 // 8)**2
batch_per_gpu = 32
patches_per_code = 512
num_codes = max(32, min(8192, 1 << (
    (num_train_images * patches_per_image // patches_per_code).bit_length()
    - 1)))                                                    # -> 128
dead_code_threshold = batch_per_gpu * patches_per_image / num_codes / 16  # 1.

decay = 0.9

model = dict(num_codes=num_codes, dead_code_threshold=dead_code_threshold,
             decay=decay)
val_evaluator = dict(num_codes=num_codes)
test_evaluator = val_evaluator
