"""``make chaos``: faults under steady load, on a stack of the suite's own (see docs/chaos.md).

Run ``python -m ops.chaos`` (``--long`` for the long run, ``--only a,b`` for some scenarios). It prints one
row per scenario and exits non-zero on a lost job, a job run twice, a 5xx, a hung call or a failed check.
"""
