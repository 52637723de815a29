"""Small, documented fixes that make the released OpenMMLab stack run on today's
PyTorch / SciPy without a compiler step. Each has its own module and test."""
