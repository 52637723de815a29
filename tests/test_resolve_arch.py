"""resolve_arch: the one arch lookup of BEiTv2ViT, BEiTv2Neck and
VQKDTokenizer."""
import pytest

from beit2mm.models import BEiTv2Neck, BEiTv2ViT, VQKDTokenizer
from beit2mm.models.utils.arch import resolve_arch


def test_name_gives_a_copy_of_the_zoo_entry():
    arch = resolve_arch('base', BEiTv2ViT.arch_zoo, 'BEiTv2ViT')
    assert arch == BEiTv2ViT.arch_zoo['base']
    arch['num_layers'] = 1
    assert BEiTv2ViT.arch_zoo['base']['num_layers'] == 12


@pytest.mark.parametrize('build, owner', [
    (lambda a: BEiTv2ViT(arch=a), 'BEiTv2ViT'),
    (lambda a: BEiTv2Neck(arch=a), 'BEiTv2Neck'),
    (lambda a: VQKDTokenizer(arch=a), 'VQKDTokenizer'),
])
def test_every_model_names_itself_and_the_known_archs(build, owner):
    with pytest.raises(ValueError) as err:
        build('gigantic')
    msg = str(err.value)
    assert owner in msg and "'gigantic'" in msg and "'base'" in msg


def test_missing_keys_are_named():
    with pytest.raises(ValueError, match=r"missing \['num_heads'\]"):
        BEiTv2ViT(arch=dict(embed_dims=32, num_layers=2))
    with pytest.raises(ValueError, match=r"missing \['decoder'\]"):
        VQKDTokenizer(arch=dict(encoder='tiny'))
    with pytest.raises(ValueError, match='name or a dict'):
        resolve_arch(12, BEiTv2ViT.arch_zoo, 'BEiTv2ViT')
