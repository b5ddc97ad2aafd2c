"""The sans-IO core: bytes in, events and decisions out. Nothing here imports trio."""
