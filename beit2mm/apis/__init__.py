"""Entry points over the package that the command-line tools run, and the
inference API (:func:`init_model`, :func:`tokenize`,
:func:`extract_features`)."""
from .tokenize import EXIT_OK, EXIT_SKIPPED, tokenize_images
# after the submodule .tokenize: the package attribute ``tokenize`` is the
# function (``from beit2mm.apis.tokenize import ...`` still reads the module)
from .features import extract_features, tokenize  # noqa: E402
from .inference import InferenceModel, init_model  # noqa: E402

__all__ = ['tokenize_images', 'EXIT_OK', 'EXIT_SKIPPED', 'init_model',
           'InferenceModel', 'tokenize', 'extract_features']
