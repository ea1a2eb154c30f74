"""make bench: the handler against the floor and a naive transformer (not a test). Run as python -m bench.run."""
