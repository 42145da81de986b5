"""Alembic migrations of Lacuna's state schema (every store's tables in one database).

``env.py`` runs them on the connection :func:`lacuna.state.upgrade` passes in (inside its
locked transaction), or, for Alembic's own command line, on ``sqlalchemy.url``. New revisions:
``alembic -c <ini with script_location = lacuna.state:migrations> revision --autogenerate``
against a database at head; name files ``NNNN_what.py``.
"""
