"""The repositories every SQL backend shares, written once against ``connection.Conn``.

Their SQL is the common ground of SQLite (3.24+) and PostgreSQL: ``?`` placeholders (PostgreSQL's connection
numbers them), ``{in_keys}`` where a membership test over a list goes, booleans as ``TRUE``/``FALSE`` and bare
``active``, instants passed and read as tz-aware ``datetime``, new ids from ``Conn.insert``. What differs between
engines (connections, locking, error mapping, migrations, types) lives in ``callcenter.store.sqlite`` and
``callcenter.store.postgres``.
"""
