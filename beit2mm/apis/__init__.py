"""Entry points over the package that the command-line tools run."""
from .tokenize import EXIT_OK, EXIT_SKIPPED, tokenize_images

__all__ = ['tokenize_images', 'EXIT_OK', 'EXIT_SKIPPED']
