"""The package version, defined once (setup.cfg reads it from here)."""
__version__ = "0.2.0"
