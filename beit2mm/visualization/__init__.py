"""Visualizers and visualization backends of the ``beit2mm`` scope.

The ``VISUALIZERS`` / ``VISBACKENDS`` registries look here for our own; until
we add any, configs resolve mmpretrain's and mmengine's through the parent
registries.

Pictures and logs: :mod:`.codebook` (patch grids, curves), :mod:`.tokens`
(token maps, codebook usage), :mod:`.views` (pretraining views and masks),
:mod:`.logs` (scalars of a run against reference curves)."""
from .logs import load_reference, load_scalars, plot_scalars
from .tensorboard_backend import LocalTensorboardVisBackend
from .tokens import token_statistics, visualize_tokens
from .views import browse_views, masked_view

__all__ = ['load_scalars', 'load_reference', 'plot_scalars',
           'token_statistics', 'visualize_tokens', 'browse_views',
           'masked_view', 'LocalTensorboardVisBackend']
