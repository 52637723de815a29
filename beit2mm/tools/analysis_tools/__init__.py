"""Analysis tools run by ``tools/analysis_tools/<name>.py``."""
