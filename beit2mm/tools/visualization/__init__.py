"""Visualization tools run by ``tools/visualization/<name>.py`` (the
pictures themselves are drawn by :mod:`beit2mm.visualization`)."""
