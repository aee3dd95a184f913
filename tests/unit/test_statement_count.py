"""bench.statements reads PostgreSQL's statement log: the services' statements only, each
whole however many lines it spans, in the idle window or the run."""

from __future__ import annotations

from pathlib import Path

from bench.statements import statements_logged

LOG = """\
2026-01-01 10:00:00.000 UTC [1] db=nobat_booking app=nobat LOG:  statement: BEGIN;
2026-01-01 10:00:00.001 UTC [2] db=postgres app= LOG:  statement: SELECT 'statements-idle'
2026-01-01 10:00:00.002 UTC [1] db=nobat_booking app=nobat LOG:  statement: BEGIN;
2026-01-01 10:00:00.003 UTC [3] db=postgres app= LOG:  statement: SELECT 'statements-start'
2026-01-01 10:00:00.004 UTC [1] db=nobat_payment app=nobat LOG:  execute __asyncpg_stmt_1__: \
SELECT payments.id
\tFROM payments FOR UPDATE
2026-01-01 10:00:00.004 UTC [1] db=nobat_payment app=nobat DETAIL:  Parameters: $1 = 'p'
2026-01-01 10:00:00.005 UTC [4] db=nobat_payment app= LOG:  statement: SELECT count(*) FROM payments
2026-01-01 10:00:00.006 UTC [1] db=nobat_payment app=nobat LOG:  statement: COMMIT;
2026-01-01 10:00:00.007 UTC [5] db=postgres app= LOG:  statement: SELECT 'statements-end'
2026-01-01 10:00:00.008 UTC [1] db=nobat_payment app=nobat LOG:  statement: BEGIN;
"""


def test_the_services_statements_are_read_whole_in_their_window(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text(LOG)

    found = statements_logged(log)

    assert found["idle"] == [["nobat_booking", "BEGIN;"]]
    assert found["run"] == [
        ["nobat_payment", "SELECT payments.id FROM payments FOR UPDATE"],
        ["nobat_payment", "COMMIT;"],
    ]
