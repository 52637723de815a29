# Paper Table 5 (patch aggregation ablations, ViT-B/16), on the 300-epoch
# pretraining recipe (configs/beitv2_vit-b_300e.py); evaluate each with the
# linear probe and fine-tuning configs (docs/paper_tables.md). The paper's
# numbers for this row: not found in the paper text available
# (docs/paper_tables.md).
# Aggregation head depth 3 (default 2; official --head_layers 3).
#   tools/dist_train.sh configs/ablations/beitv2_vit-b_agg-depth3_300e.py 8
_base_ = '../beitv2_vit-b_300e.py'

model = dict(neck=dict(num_layers=3))
