# The CLIP VQ-KD recipe with its JPEGs decoded, cropped and resized on the GPU
# (nvJPEG through torchvision.io.decode_jpeg): the loader only reads the
# files and draws the random crop and flip (same draws as the CPU pipeline),
# beit2mm.DeviceDecodePreprocessor does the pixel work. Files other than good
# RGB JPEGs are still decoded by the loader (same bad-image policy). The
# resize is PyTorch's antialiased bicubic, within a few levels of Pillow's
# (the CPU pipeline is Pillow-exact): tests/test_device_decode.py.
#   tools/dist_train.sh configs/vqkd/vqkd_vit-b_clip-b16_100e_in1k_device-decode.py 8
_base_ = './vqkd_vit-b_clip-b16_100e_in1k.py'

train_pipeline = [
    dict(t, defer_jpeg=True) if t.type == 'beit2mm.SafeLoadImageFromFile'
    # the crop plan travels with each data sample
    else dict(t, meta_keys=('sample_idx', 'img_path', 'ori_shape',
                            'img_shape', 'flip', 'flip_direction',
                            'device_crop')) if t.type == 'PackInputs'
    else t for t in _base_.train_pipeline
]
train_dataloader = dict(collate_fn=dict(type='pseudo_collate'),  # bytes
                        dataset=dict(pipeline=train_pipeline))
model = dict(data_preprocessor=dict(type='beit2mm.DeviceDecodePreprocessor'))
