"""The model zoo: metafiles list the official weights; the download path
(served from 127.0.0.1) verifies, converts and refuses a wrong hash without
leaving the file behind."""
import functools
import http.server
import os
import threading

import pytest
import torch

from beit2mm.apis.zoo import ROOT, get_checkpoint, list_models, sha256

TOK = 'vqkd_encoder_base_decoder_3x768x12_clip'


def test_metafiles_list_the_official_weights():
    models = list_models()
    assert len(models) == 11
    for m in models.values():
        assert m['Weights'].startswith(
            'https://github.com/addf400/files/releases/download/BEiT-v2/')
        assert m['Metadata']['Hash'] == 'unknown'  # none published
        if 'Config' in m:
            assert os.path.isfile(os.path.join(ROOT, m['Config']))


@pytest.fixture
def server(tmp_path):
    """An official-layout tiny tokenizer file served over HTTP."""
    from beit2mm.models.tokenizers import VQKDTokenizer
    tok = VQKDTokenizer(arch='tiny', img_size=32, patch_size=16,
                        num_codes=16, code_dim=8)
    state = {k.replace('quantize.codebook', 'quantize.embedding.weight'): v
             for k, v in tok.state_dict().items()}
    (tmp_path / 'www').mkdir()
    torch.save({'model': state}, str(tmp_path / 'www' / 'tok.pth'))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tmp_path / 'www'))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/tok.pth', \
        str(tmp_path / 'www' / 'tok.pth')
    httpd.shutdown()


def test_download_verifies_and_converts(server, tmp_path):
    url, src = server
    out = str(tmp_path / 'ckpt')
    path = get_checkpoint(TOK, out, url=url, sha=sha256(src))
    assert path == os.path.join(out, TOK + '.pth')
    assert 'quantize.codebook' in torch.load(path)['state_dict']
    assert os.listdir(out) == [TOK + '.pth']


def test_wrong_hash_is_refused_and_removed(server, tmp_path):
    url, _ = server
    out = str(tmp_path / 'ckpt')
    with pytest.raises(ValueError, match='sha256'):
        get_checkpoint(TOK, out, url=url, sha='0' * 64)
    assert os.listdir(out) == []
