"""msh: a Click-style modular middlebox framework with a chain compiler."""

__version__ = "0.1.0"
