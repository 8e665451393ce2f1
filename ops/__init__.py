"""Operations suites that run a whole stack on this machine: ``make chaos`` (faults) and ``make load`` (a soak).

``ops/stack.py`` brings up the stack the suites own (PostgreSQL, Redis with an
append-only file, the web server, supervised workers); ``ops/chaos/`` injects
faults under steady load; ``ops/load/`` drives Locust. See docs/chaos.md.
"""
