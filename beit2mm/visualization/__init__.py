"""Visualizers and visualization backends of the ``beit2mm`` scope.

The ``VISUALIZERS`` / ``VISBACKENDS`` registries look here for our own; until
we add any, configs resolve mmpretrain's and mmengine's through the parent
registries."""
__all__ = []
