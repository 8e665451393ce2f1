"""Checking inputs before a job is queued, below the task kinds: images and token counting.

Nothing here knows a task kind, a model spec or a job: a kind's declaration
(``inference/kinds/``) calls these for the parameters it declares.
"""
