"""Architecture lookup shared by the models that take ``arch=name | dict``."""
from typing import Iterable, Mapping, Union


def resolve_arch(arch: Union[str, Mapping], zoo: Mapping[str, Mapping],
                 owner: str, required: Iterable[str] = ()) -> dict:
    """The architecture dict that ``arch`` names.

    Args:
        arch: a key of ``zoo`` or an architecture dict.
        zoo: the model's named architectures (e.g. ``BEiTv2ViT.arch_zoo``).
        owner: the model's name, for the error messages.
        required: keys the dict must have.

    Returns:
        a new dict (shallow copy of the zoo entry or of ``arch``), so the
        caller may edit it without touching ``zoo``.

    Raises:
        ValueError: an unknown name (the known ones are listed), a value that
            is not a dict, or a dict without a required key.
    """
    if isinstance(arch, str):
        if arch not in zoo:
            raise ValueError(f'Unknown {owner} arch {arch!r}; choose one of '
                             f'{sorted(zoo)} or pass a dict.')
        arch = zoo[arch]
    if not isinstance(arch, Mapping):
        raise ValueError(f'{owner} arch must be a name or a dict, got '
                         f'{arch!r}.')
    missing = set(required) - set(arch)
    if missing:
        raise ValueError(f'{owner} arch dict is missing {sorted(missing)}, '
                         f'got {dict(arch)!r}.')
    return dict(arch)
