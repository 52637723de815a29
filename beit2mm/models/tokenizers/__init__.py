from .vqkd import VQKDTokenizer
from .vqkd_convert import convert_official, load_vqkd_state_dict

__all__ = ['VQKDTokenizer', 'convert_official', 'load_vqkd_state_dict']
