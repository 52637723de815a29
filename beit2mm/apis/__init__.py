"""Entry points over the package that the command-line tools run, and the
inference API (:func:`init_model`, :func:`tokenize`,
:func:`extract_features`)."""
from .features import extract_features, tokenize
from .inference import InferenceModel, init_model
from .tokenize_dataset import EXIT_OK, EXIT_SKIPPED, tokenize_images

__all__ = ['tokenize_images', 'EXIT_OK', 'EXIT_SKIPPED', 'init_model',
           'InferenceModel', 'tokenize', 'extract_features']
