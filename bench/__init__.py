"""msh benchmarks: ``python -m bench --help``."""
