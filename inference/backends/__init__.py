"""Model families: how a model of one architecture is loaded and run.

A catalog entry names its family; ``inference.runtime.loading`` loads it through the
family's ``Backend.load`` and keeps it in the worker's cache. Task kinds
(``inference/kinds/``) call the operations a backend offers.
"""
