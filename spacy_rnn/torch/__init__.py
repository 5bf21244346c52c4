"""Plain PyTorch modules and functions. This package imports only torch."""
