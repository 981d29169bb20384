"""The production server: the stock ``langgraph-api`` on ``langgraph-runtime-pg``.

``make serve`` runs ``python -m casts.memory.serve`` in its own venv (``.venv-serve``, from
``requirements-serve.lock``): it finds the PostgreSQL (``POSTGRES_URI`` or the embedded
server, as ``make dev``) and the broker (``REDIS_URI`` or an embedded Valkey), brings the
runtime's schema up to date once, then hands over to ``langhost serve``, which keeps
assistants, threads and runs in PostgreSQL and lets several processes share them.

- ``broker``: the Redis-compatible broker the server processes share.
- ``schema``: the runtime's tables, migrated once under an advisory lock.
- ``launcher``: the command line that ties them together.
"""
