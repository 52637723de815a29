from .beitv2 import BEiTv2
from .beitv2_data_preprocessor import BEiTv2DataPreprocessor
from .device_decode_preprocessor import DeviceDecodePreprocessor
from .frozen_tokenizer import load_tokenizer

__all__ = ['BEiTv2', 'BEiTv2DataPreprocessor', 'DeviceDecodePreprocessor',
           'load_tokenizer']
