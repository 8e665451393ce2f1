"""``make cluster``: the README's deployment (one PostgreSQL and one Redis, a web host, N worker hosts) built on
this machine out of network namespaces, with one worker host cut off in the middle of load (docs/chaos.md)."""
