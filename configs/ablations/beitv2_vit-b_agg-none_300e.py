# Paper Table 5 (patch aggregation ablations, ViT-B/16), on the 300-epoch
# pretraining recipe (configs/beitv2_vit-b_300e.py); evaluate each with the
# linear probe and fine-tuning configs (docs/paper_tables.md). The paper's
# numbers for this row: not found in the paper text available
# (docs/paper_tables.md).
# No patch aggregation (the baseline): no neck, only the last layer's MIM
# loss (official model beit_base_patch16_224_8k_vocab, "without cls-token
# pretraining", PRETRAINING.md).
#   tools/dist_train.sh configs/ablations/beitv2_vit-b_agg-none_300e.py 8
_base_ = '../beitv2_vit-b_300e.py'

model = dict(neck=None)
