"""ffbench: the open benchmark toolkit for fashion image-to-video generation."""

__version__ = "0.1.0"
