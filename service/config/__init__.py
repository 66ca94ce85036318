"""Loaders for configuration files: they read, locate problems by file:line, and hand back domain objects."""
