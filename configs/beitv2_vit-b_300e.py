# BEiT v2 ViT-B/16, 300 epochs on ImageNet-1k (paper Table 1: 85.0 fine-tuned)
# on the CLIP-distilled tokenizer (_base_/models/beitv2_vit-b.py).
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
]
