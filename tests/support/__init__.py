"""Helpers for the end-to-end tests: a real dockerd, a test image, the proxy, the CLI."""
