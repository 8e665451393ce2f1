"""Task kinds, one file each. ``inference.registry`` collects them."""
