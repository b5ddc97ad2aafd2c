"""The thin trio layer: listeners, upstream connections, the pump, the log writer."""
