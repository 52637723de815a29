# BEiT v2 ViT-B/16, 300 epochs on ImageNet-1k (paper Table 1: 85.0 fine-tuned).
# tools/dist_train.sh configs/beitv2_vit-b_300e.py 8   (8 GPUs x 256 = 2048)
#
# Smoke run on a CPU, any folder of class sub-folders, random tokenizer:
#   python tools/train.py configs/beitv2_vit-b_300e.py --cfg-options \
#     model.tokenizer_ckpt=None model.allow_random_tokenizer=True \
#     optim_wrapper.type=OptimWrapper train_dataloader.batch_size=2 \
#     train_dataloader.num_workers=0 \
#     train_dataloader.persistent_workers=False \
#     train_dataloader.dataset.type=CustomDataset \
#     train_dataloader.dataset.data_root=FOLDER
_base_ = [
    './_base_/models/beitv2_vit-b.py',
    './_base_/datasets/imagenet_beitv2.py',
    './_base_/schedules/beitv2_300e.py',
    './_base_/default_runtime.py',
]

# The tokenizer (its teacher is the CLIP-vs-DINO choice). CLIP-distilled VQ-KD,
# the one behind every BEiT v2 result (official release, or ours from
# configs/vqkd/vqkd_vit-b_clip-b16_100e_in1k.py):
tokenizer_ckpt = 'checkpoints/vqkd_encoder_base_decoder_3x768x12_clip-d5036aa7.pth'  # noqa
# DINO-distilled instead (or configs/vqkd/vqkd_vit-b_dino-b16_100e_in1k.py):
# tokenizer_ckpt = 'checkpoints/vqkd_encoder_base_decoder_1x768x12_dino-663c55d7.pth'  # noqa

model = dict(tokenizer_ckpt=tokenizer_ckpt)

# a different augmentation/mask stream per rank, as the official seed + rank
randomness = dict(seed=0, diff_rank_seed=True)
