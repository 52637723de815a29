# Paper Table 5 (patch aggregation ablations, ViT-B/16), on the 300-epoch
# pretraining recipe (configs/beitv2_vit-b_300e.py); evaluate each with the
# linear probe and fine-tuning configs (docs/paper_tables.md). The paper's
# numbers for this row: not found in the paper text available
# (docs/paper_tables.md).
# Unshared MIM head: the aggregation branch gets its own final norm and
# linear layer (official --shared_lm_head False: cls_pt_norm, cls_pt_lm_head).
#   tools/dist_train.sh configs/ablations/beitv2_vit-b_agg-unshared-head_300e.py 8
_base_ = '../beitv2_vit-b_300e.py'

model = dict(neck=dict(with_norm=True), head=dict(shared=False))
