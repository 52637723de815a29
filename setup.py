"""beit2mm: BEiT v2 (VQ-KD tokenizer + masked image modeling) as an OpenMMLab plugin."""
import os.path as osp

from setuptools import find_packages, setup


def read_requirements(path='requirements.txt'):
    here = osp.dirname(osp.abspath(__file__))
    with open(osp.join(here, path)) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line and not line.startswith(('pytest', 'execnet'))]


setup(
    name='beit2mm',
    version='0.1.0',
    description='BEiT v2: VQ-KD visual tokenizer and masked image modeling '
    'for the OpenMMLab ecosystem',
    packages=find_packages(include=['beit2mm', 'beit2mm.*']),
    python_requires='>=3.9',
    install_requires=read_requirements(),
    extras_require={'tests': ['pytest', 'pytest-xdist']},
    license='Apache-2.0',
    zip_safe=False,
)
