"""tools/tokenize_images.py on dataset-like folders: one output per image
(clashing names), bad files skipped and listed, resume after a kill, and two
torchrun ranks (gloo) sharing the files."""
import io
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from beit2mm.apis.tokenize_files import load_image
from beit2mm.datasets.transforms.safe_loading import BadImageError
from beit2mm.models.tokenizers import VQKDTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCH = dict(encoder=dict(embed_dims=32, num_layers=2, num_heads=2),
            decoder=dict(embed_dims=32, num_layers=1, num_heads=2))
CFG = (f"model = dict(type='beit2mm.VQKDTokenizer', arch={ARCH!r}, "
       "img_size=32, patch_size=8, num_codes=16, code_dim=8, teacher=None)\n")


def _tokenizer(path, seed):
    torch.manual_seed(seed)
    m = VQKDTokenizer(arch=ARCH, img_size=32, patch_size=8, num_codes=16,
                      code_dim=8, teacher=None)
    m.init_weights()
    m.train()
    m.quantize(m.encode(torch.rand(4, 3, 32, 32) * 2 - 1))  # k-means init
    m.freeze()
    torch.save({'state_dict': m.state_dict()}, path)
    return m


@pytest.fixture(scope='module')
def tok(tmp_path_factory):
    d = tmp_path_factory.mktemp('tok')
    (d / 'cfg.py').write_text(CFG)
    model = _tokenizer(d / 'tok.pth', seed=0)
    return dict(cfg=str(d / 'cfg.py'), ckpt=str(d / 'tok.pth'), model=model,
                dir=d)


@pytest.fixture(scope='module')
def tool():
    from beit2mm.tools import tokenize_images
    return tokenize_images


def _save(path, seed, size=(40, 48), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)) \
        .save(path, format=fmt)


def _run(tool, tok, inputs, out, *extra):
    return tool.main([tok['cfg'], tok['ckpt'], *map(str, inputs),
                      '--out-dir', str(out), '--num-workers', '0',
                      '--batch-size', '2', '--no-progress', *extra])


def _outputs(out):
    """{relative path: ids} of every output below out (reports and
    temporaries excluded)."""
    found = {}
    for root, dirs, names in os.walk(out):
        dirs[:] = [d for d in dirs if d != '.tmp']
        for n in names:
            if n.endswith('.npy') and n != 'code_counts.npy':
                p = os.path.join(root, n)
                found[os.path.relpath(p, out)] = np.load(p)
    return found


def _expected(tok, path):
    x, _ = load_image(str(path), 32)
    return tok['model'].get_tokens(x[None])[0].numpy()


def test_clashing_names_give_one_output_per_image(tmp_path, tok, tool):
    src = tmp_path / 'data'
    images = {'a/x.JPEG': 'a/x.npy', 'b/x.JPEG': 'b/x.npy',
              'b/c/x.JPEG': 'b/c/x.npy', 'x.jpg': 'x.jpg.npy',
              'x.png': 'x.png.npy'}
    for i, rel in enumerate(images):
        _save(src / rel, seed=i, fmt='PNG' if rel.endswith('png') else 'JPEG')
    out = tmp_path / 'out'
    assert _run(tool, tok, [src], out) == 0
    found = _outputs(out)
    assert sorted(found) == sorted(images.values())
    for rel, key in images.items():
        assert np.array_equal(found[key], _expected(tok, src / rel)), rel
    report = json.loads((out / 'tokenize_report.json').read_text())
    assert (report['tokenized'], report['skipped']) == (5, 0)
    counts = np.load(out / 'code_counts.npy')
    assert counts.sum() == 5 * 16
    assert counts.tolist() == np.bincount(
        np.concatenate([v.ravel() for v in found.values()]),
        minlength=16).tolist()
    # an out-dir inside the input folder: its pictures are not inputs
    inner = src / 'tokens'
    for _ in range(2):
        assert _run(tool, tok, [src], inner, '--show') == 0
        report = json.loads((inner / 'tokenize_report.json').read_text())
        assert report['images'] == 5
    assert report['already_done'] == 5 and (inner / 'b/c/x.png').is_file()
    # same relative path under two input folders: refused, nothing written
    _save(tmp_path / 'other' / 'a' / 'x.JPEG', seed=9, fmt='JPEG')
    with pytest.raises(ValueError, match='same output'):
        _run(tool, tok, [src, tmp_path / 'other'], tmp_path / 'out2')
    assert not (tmp_path / 'out2').exists()


def _truncated_jpeg(path, seed):
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)) \
        .save(buf, format='JPEG')
    path.write_bytes(buf.getvalue()[:len(buf.getvalue()) // 2])


def test_bad_files_skipped_listed_and_good_ones_kept(tmp_path, tok, tool,
                                                     capsys):
    src = tmp_path / 'data'
    for i in range(3):
        _save(src / f'good{i}.png', seed=i)
    # odd colour modes are converted, not skipped
    Image.fromarray(np.random.default_rng(5).integers(
        0, 65535, (40, 40), dtype=np.uint16)).save(src / 'gray16.png')
    Image.new('CMYK', (36, 40), (10, 200, 30, 5)).save(src / 'cmyk.jpg')
    pal = Image.new('P', (40, 44))
    pal.info['transparency'] = 0
    pal.save(src / 'palette.png')
    _truncated_jpeg(src / 'trunc.jpg', seed=7)
    (src / 'empty.png').write_bytes(b'')
    (src / 'notes.jpg').write_text('not an image')
    out = tmp_path / 'out'
    assert _run(tool, tok, [src], out) == 3  # EXIT_SKIPPED
    good = ['cmyk', 'good0', 'good1', 'good2', 'gray16', 'palette']
    found = _outputs(out)
    assert sorted(found) == [g + '.npy' for g in good]
    for g in good:
        name = next(p for p in src.iterdir() if p.stem == g)
        assert np.array_equal(found[g + '.npy'], _expected(tok, name))
    lines = (out / 'skipped.txt').read_text().splitlines()
    listed = {os.path.basename(line.split('\t')[0]): line.split('\t')[1]
              for line in lines}
    assert set(listed) == {'trunc.jpg', 'empty.png', 'notes.jpg'}
    assert 'empty' in listed['empty.png']
    assert 'not an image' in listed['notes.jpg']
    report = json.loads((out / 'tokenize_report.json').read_text())
    assert (report['tokenized'], report['skipped'],
            report['already_done']) == (6, 3, 0)
    summary = capsys.readouterr().out
    assert '6 tokenized, 0 already done, 3 skipped' in summary
    assert 'perplexity' in summary
    # a rerun skips what is done and still reports the bad files
    assert _run(tool, tok, [src], out) == 3
    report = json.loads((out / 'tokenize_report.json').read_text())
    assert (report['tokenized'], report['already_done']) == (0, 6)
    with pytest.raises(BadImageError, match='trunc.jpg|empty.png|notes.jpg'):
        _run(tool, tok, [src], out, '--bad-images', 'raise', '--overwrite')


def test_killed_run_continues_to_the_same_outputs(tmp_path, tok, tool):
    src = tmp_path / 'data'
    for i in range(7):
        _save(src / f'd{i % 2}' / f'im{i}.png', seed=i)
    full = tmp_path / 'full'
    assert _run(tool, tok, [src], full) == 0
    out = tmp_path / 'out'
    # the test hook makes the process die like a SIGKILL (exit 137, no
    # clean-up) in the middle of its 4th write
    env = dict(os.environ, BEIT2MM_TOKENIZE_DIE_AFTER_WRITES='3',
               OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, 'tools/tokenize_images.py', tok['cfg'], tok['ckpt'],
         str(src), '--out-dir', str(out), '--num-workers', '1',
         '--batch-size', '2'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 137, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(_outputs(out)) == 3
    assert any(f for _, _, f in os.walk(out / '.tmp'))  # its half write
    # an unreadable output (e.g. from a copy cut short) is tokenized again
    broken = sorted(_outputs(out))[0]
    (out / broken).write_bytes(b'\x93NUMPY')
    assert _run(tool, tok, [src], out) == 0
    report = json.loads((out / 'tokenize_report.json').read_text())
    assert (report['tokenized'], report['already_done']) == (5, 2)
    a, b = _outputs(full), _outputs(out)
    assert sorted(a) == sorted(b) and len(a) == 7
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not os.path.exists(out / '.tmp')
    assert np.array_equal(np.load(full / 'code_counts.npy'),
                          np.load(out / 'code_counts.npy'))
    # an out-dir of another tokenizer is refused, not mixed
    other = dict(tok, ckpt=str(tok['dir'] / 'other.pth'))
    _tokenizer(other['ckpt'], seed=1)
    with pytest.raises(ValueError, match='another tokenizer'):
        _run(tool, other, [src], out)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_torchrun_ranks_cover_every_file_once(tmp_path, tok, tool):
    src = tmp_path / 'data'
    for i in range(7):
        _save(src / f'd{i % 3}' / f'im{i}.png', seed=i)
    out = tmp_path / 'out'
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
         '2', '--master_port', str(_free_port()), 'tools/tokenize_images.py',
         tok['cfg'], tok['ckpt'], str(src), '--out-dir', str(out),
         '--num-workers', '1', '--batch-size', '2'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / 'tokenize_report.json').read_text())
    assert report['world_size'] == 2
    assert report['tokenized_per_rank'] == [4, 3]  # sorted list, strided
    found = _outputs(out)
    assert len(found) == 7 and report['tokenized'] == 7
    for i in range(7):
        key = f'd{i % 3}/im{i}'
        assert np.array_equal(found[key + '.npy'],
                              _expected(tok, src / (key + '.png')))
    assert '7 tokenized' in proc.stdout
    assert 'task/s' in proc.stdout and 'ETA' in proc.stdout  # rank 0's bar
