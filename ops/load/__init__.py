"""``make load``: a Locust soak of mixed traffic on a stack of the suite's own (see docs/chaos.md)."""
