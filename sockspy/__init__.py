"""sockspy: a byte-transparent guard for the Docker daemon socket."""

__version__ = "0.1.0"
