"""One client connection as a sans-IO state machine, its exchanges, and their audit records."""
