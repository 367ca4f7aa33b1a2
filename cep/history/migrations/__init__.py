"""Alembic migrations of the history tables; applied on start-up by :mod:`cep.history.migrate`."""
