"""The worker side: the model cache, the batchers, what the process runs now (heartbeats, shutdown).

Nothing here is used by the web process to serve a request, and torch is
imported only by the model cache (``loading``), in workers.
"""
