"""Users' own models: uploaded from the dashboard or the API, built on a worker, private to their owner.

- ``services``: the web side's writes: create (check, save, enqueue the build), delete;
- ``build``: the worker side: unpack, check, try the model, sweep lost builds;
- ``archive``: the checks on the uploaded files (no path tricks, links or pickles; the architecture fits);
- ``selectors``: uploaded models as catalog entries (``ModelSpec``), for their owner only;
- ``paths``: where their files lie.
"""
