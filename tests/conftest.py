"""Shared test fixtures: tiny datasets in the real on-disk layouts."""
import os
import os.path as osp

# Idle OpenMP threads sleep instead of spinning (before torch is imported;
# subprocesses the tests start inherit it): on a small CPU shared by test
# workers and their subprocesses, spinning threads cost more than the work.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

# Under pytest-xdist each worker gets one core's worth of threads.
_WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
torch.set_num_threads(max(1, (os.cpu_count() or 1) // _WORKERS))


def write_image_folder(root, classes=('a', 'b'), per_class=4, size=32,
                       splits=('train', 'val'), seed=0):
    """ImageNet-style ``root/<split>/<class>/<i>.JPEG`` with random RGB images.

    Returns ``root``. mmpretrain's ``ImageNet``/``CustomDataset`` read it with
    ``data_root=root, data_prefix='train'`` (no ann_file needed).
    """
    from PIL import Image
    rng = np.random.default_rng(seed)
    for split in splits:
        for c_idx, cls in enumerate(classes):
            d = osp.join(root, split, cls)
            os.makedirs(d, exist_ok=True)
            for i in range(per_class):
                img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                img[..., c_idx % 3] //= 2  # a weak class cue
                Image.fromarray(img).save(osp.join(d, f'{cls}_{i}.JPEG'))
    return str(root)


def write_ade_folder(root, n_train=4, n_val=2, size=64, num_classes=150,
                     seed=0):
    """ADE20K-style ``images/{training,validation}/*.jpg`` and
    ``annotations/{training,validation}/*.png`` (0 = ignore, 1..150 classes,
    to be read with ``reduce_zero_label=True``). Returns ``root``."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for split, n in (('training', n_train), ('validation', n_val)):
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
        for i in range(n):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            seg = rng.integers(0, num_classes + 1, (size // 8, size // 8),
                               dtype=np.uint8)
            seg = np.kron(seg, np.ones((8, 8), dtype=np.uint8))
            name = f'ADE_{split}_{i:08d}'
            Image.fromarray(img).save(osp.join(root, 'images', split,
                                               name + '.jpg'))
            Image.fromarray(seg).save(osp.join(root, 'annotations', split,
                                               name + '.png'))
    return str(root)


@pytest.fixture(autouse=True)
def _isolate_default_scope():
    """A Runner built in one test makes its ``default_scope`` current for the
    rest of the process (mmengine's DefaultScope is a global); after that,
    e.g. mmseg's ``MODELS.build`` would resolve names in another scope. Put
    the previous scopes back after every test."""
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


@pytest.fixture
def image_folder(tmp_path):
    return write_image_folder(tmp_path / 'imagenet')


@pytest.fixture
def ade_folder(tmp_path):
    return write_ade_folder(tmp_path / 'ade')
