"""Files of a tokenizing run: which images, where their ids go, how they are
read and how outputs are written.

Layout: a mirrored tree. The ids of ``<root>/a/b/x.JPEG`` (``root`` a folder
given as input) go to ``<out-dir>/a/b/x.npy``; an image given as a file is
keyed by its file name. Two images whose keys would clash (``x.jpg`` and
``x.png`` in one folder) both keep their extension (``x.jpg.npy``,
``x.png.npy``); a clash that remains (the same relative path under two
input folders) is an error before anything is written. Each output is
written to ``<out-dir>/.tmp/`` first and renamed into place, so an output
file that exists is complete: "done" is "the file exists".
"""
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from beit2mm.datasets.transforms.safe_loading import BadImageError, \
    decode_image

IMG_EXT = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
TMP_DIR = '.tmp'


def _inside(path: str, folder: Optional[str]) -> bool:
    if folder is None:
        return False
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def list_images(inputs: Sequence[str],
                exclude: Optional[str] = None) -> List[Tuple[str, str]]:
    """Image files and folders -> sorted [(path, path relative to its input
    root)]. Folders are walked recursively for ``IMG_EXT`` files (case
    insensitive); anything under ``exclude`` (the out-dir) is left out."""
    items = []
    for item in inputs:
        if osp.isdir(item):
            found = []
            for root, dirs, names in os.walk(item, followlinks=True):
                dirs[:] = sorted(d for d in dirs
                                 if not _inside(osp.join(root, d), exclude))
                found += [osp.join(root, n) for n in names
                          if n.lower().endswith(IMG_EXT)]
            items += sorted((f, osp.relpath(f, item).replace(os.sep, '/'))
                            for f in found)
        elif osp.isfile(item):
            items.append((item, osp.basename(item)))
        else:
            raise FileNotFoundError(f'{item} is neither an image nor a folder')
    if not items:
        raise FileNotFoundError(f'no images ({", ".join(IMG_EXT)}) in '
                                f'{list(inputs)}')
    return items


def output_keys(rel_paths: Sequence[str]) -> List[str]:
    """Relative image paths -> output keys (paths without the ``.npy``).

    The key is the relative path without its extension, or with it where two
    paths share that stem. Raises ValueError for keys that still clash.
    """
    stems = [osp.splitext(r)[0] for r in rel_paths]
    seen: Dict[str, int] = {}
    for s in stems:
        seen[s] = seen.get(s, 0) + 1
    keys = [r if seen[s] > 1 else s for r, s in zip(rel_paths, stems)]
    first: Dict[str, int] = {}
    clashes = []
    for i, k in enumerate(keys):
        if k in first:
            clashes.append((rel_paths[first[k]], rel_paths[i], k))
        first.setdefault(k, i)
    if clashes:
        shown = '; '.join(f'{a!r} and {b!r} -> {k}.npy'
                          for a, b, k in clashes[:5])
        raise ValueError(
            f'{len(clashes)} image(s) would write the same output ({shown}). '
            f'Fix: give their common parent folder as the input (outputs '
            f'mirror the tree below it), or tokenize each input into its own '
            f'--out-dir.')
    return keys


def load_image(path: str, size: int) -> Tuple[torch.Tensor, np.ndarray]:
    """An image file -> (3, size, size) float in [-1, 1] and the uint8 crop
    (size, size, 3).

    Decoded by the training pipelines' loader
    (:func:`~beit2mm.datasets.transforms.safe_loading.decode_image`: every
    colour mode to RGB, EXIF rotation applied), resized on the short side
    (bicubic) and center-cropped. Raises BadImageError for files that can
    not be read or decoded.
    """
    from PIL import Image
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as err:
        raise BadImageError(f'can not be read ({err})') from None
    img = Image.fromarray(decode_image(data))
    w, h = img.size
    s = size / min(w, h)
    img = img.resize((max(size, round(w * s)), max(size, round(h * s))),
                     Image.BICUBIC)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    crop = np.asarray(img.crop((left, top, left + size, top + size)))
    x = torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 127.5 - 1
    return x, crop


class OutputWriter:
    """Atomic writes into ``out_dir``: each file goes to
    ``<out_dir>/.tmp/<tag>/`` and is renamed over its final path (the same
    file system, so a killed process leaves either nothing or the complete
    file; stale temporaries are removed by :func:`clear_tmp`)."""

    def __init__(self, out_dir: str, tag: str = 'rank0'):
        self.out_dir = out_dir
        self.tmp = osp.join(out_dir, TMP_DIR, tag)
        os.makedirs(self.tmp, exist_ok=True)
        self.count = 0
        # for tests: after this many outputs, die in the middle of the next
        # write (temporary written, not renamed) like a killed process
        self._die_after = int(os.environ.get(
            'BEIT2MM_TOKENIZE_DIE_AFTER_WRITES', '-1'))

    def path(self, key: str, ext: str = '.npy') -> str:
        return osp.join(self.out_dir, key + ext)

    def _tmp(self, ext: str) -> str:
        return osp.join(self.tmp, f'{self.count}{ext}')

    def _commit(self, tmp: str, final: str) -> None:
        if self.count == self._die_after:
            os._exit(137)  # simulated SIGKILL: no clean-up, tmp left behind
        os.makedirs(osp.dirname(final), exist_ok=True)
        os.replace(tmp, final)

    def save_ids(self, key: str, ids: np.ndarray) -> None:
        tmp = self._tmp('.npy')
        with open(tmp, 'wb') as f:
            np.save(f, ids)
        self._commit(tmp, self.path(key))
        self.count += 1

    def save_picture(self, key: str, crop: np.ndarray, ids: np.ndarray,
                     num_codes: int) -> None:
        from beit2mm.visualization.codebook import token_map_figure
        tmp = self._tmp('.png')
        token_map_figure(crop[None], ids[None], tmp, num_codes=num_codes,
                         title=key)
        os.makedirs(osp.dirname(self.path(key, '.png')), exist_ok=True)
        os.replace(tmp, self.path(key, '.png'))


def clear_tmp(out_dir: str) -> None:
    """Remove the temporaries a killed run left in ``<out_dir>/.tmp``."""
    shutil.rmtree(osp.join(out_dir, TMP_DIR), ignore_errors=True)


def read_done(path: str) -> Optional[np.ndarray]:
    """The ids of a finished output, or None if there is none (or it can not
    be read: it is then tokenized again)."""
    if not osp.isfile(path):
        return None
    try:
        return np.load(path)
    except (OSError, ValueError, EOFError):
        return None


class TokenizeDataset(Dataset):
    """One item per image of this rank's share, read by DataLoader workers.

    ``items``: [(image path, output key)]. Item ``i`` -> a dict with
    ``index`` and ``state``: ``'done'`` (``ids`` (h, w) of an existing
    output, unless ``overwrite``), ``'todo'`` (``x`` (3, S, S) in [-1, 1],
    and ``crop`` (S, S, 3) uint8 when ``with_crop``) or ``'bad'``
    (``reason``).
    """

    def __init__(self, items: Sequence[Tuple[str, str]], out_dir: str,
                 size: int, overwrite: bool = False,
                 with_crop: bool = False):
        self.items = list(items)
        self.out_dir = out_dir
        self.size = size
        self.overwrite = overwrite
        self.with_crop = with_crop

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        path, key = self.items[index]
        if not self.overwrite:
            ids = read_done(osp.join(self.out_dir, key + '.npy'))
            if ids is not None:
                return dict(index=index, state='done', ids=ids)
        try:
            x, crop = load_image(path, self.size)
        except BadImageError as err:
            return dict(index=index, state='bad', reason=str(err))
        out = dict(index=index, state='todo', x=x)
        if self.with_crop:
            out['crop'] = crop
        return out


def as_list(batch: list) -> list:
    """DataLoader collate: keep the items as they are (a batch mixes
    done, bad and to-do images)."""
    return batch
