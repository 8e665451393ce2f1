"""Task kinds kept outside ``inference/kinds/``, registered through ``TASK_KIND_MODULES`` by the test that proves
a kind is one file (``tests/browser/test_adding_a_kind.py``); the rest of the suite never loads them."""
