"""mmengine's local files *and* TensorBoard from one backend, so that the
switch is one ``--cfg-options`` key (``--cfg-options`` cannot append a dict
to ``visualizer.vis_backends``, only change an entry of it)::

    tools/train.py CONFIG --cfg-options \\
        visualizer.vis_backends.0.type=beit2mm.LocalTensorboardVisBackend
    tensorboard --logdir work_dirs/CONFIG_NAME

Everything ``LocalVisBackend`` writes (``vis_data/scalars.json``, which
``tools/analysis_tools/analyze_logs.py`` reads, the config, images) is
still written; the same scalars, images and config also go to a TensorBoard
event file in the same ``vis_data`` folder.
"""
from mmengine.visualization import LocalVisBackend, TensorboardVisBackend

from beit2mm.registry import VISBACKENDS


@VISBACKENDS.register_module()
class LocalTensorboardVisBackend(LocalVisBackend):
    """``LocalVisBackend`` + ``TensorboardVisBackend`` into ``save_dir``
    (arguments as ``LocalVisBackend``'s)."""

    def __init__(self, save_dir: str, **kwargs):
        super().__init__(save_dir, **kwargs)
        self._tb = TensorboardVisBackend(save_dir)

    @property
    def experiment(self):
        return self

    def add_config(self, config, **kwargs) -> None:
        super().add_config(config, **kwargs)
        self._tb.add_config(config, **kwargs)

    def add_image(self, name, image, step: int = 0, **kwargs) -> None:
        super().add_image(name, image, step, **kwargs)
        self._tb.add_image(name, image, step, **kwargs)

    def add_scalar(self, name, value, step: int = 0, **kwargs) -> None:
        super().add_scalar(name, value, step, **kwargs)
        self._tb.add_scalar(name, value, step, **kwargs)

    def add_scalars(self, scalar_dict, step: int = 0, file_path=None,
                    **kwargs) -> None:
        super().add_scalars(scalar_dict, step, file_path, **kwargs)
        self._tb.add_scalars(scalar_dict, step, file_path, **kwargs)

    def close(self) -> None:
        super().close()
        self._tb.close()
