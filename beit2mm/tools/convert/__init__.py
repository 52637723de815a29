"""Checkpoint converters run by ``tools/convert/<name>.py``."""
