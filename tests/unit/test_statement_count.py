"""bench.statements reads PostgreSQL's statement log: the services' statements only, each
whole however many lines it spans, in the idle window or the run of this count (a kept
cluster's log holds earlier ones too), and auto_explain's plans of the run."""

from __future__ import annotations

from pathlib import Path

from bench.statements import _END, _IDLE, _START, plans_logged, statements_logged

LOG = f"""\
2026-01-01 09:00:00.000 UTC [2] db=postgres app= LOG:  statement: SELECT 'statements-idle-0ld'
2026-01-01 09:00:00.001 UTC [2] db=postgres app= LOG:  statement: SELECT 'statements-start-0ld'
2026-01-01 09:00:00.002 UTC [1] db=nobat_payment app=nobat LOG:  statement: ROLLBACK;
2026-01-01 09:00:00.003 UTC [2] db=postgres app= LOG:  statement: SELECT 'statements-end-0ld'
2026-01-01 10:00:00.000 UTC [1] db=nobat_booking app=nobat LOG:  statement: BEGIN;
2026-01-01 10:00:00.001 UTC [2] db=postgres app= LOG:  statement: SELECT '{_IDLE}'
2026-01-01 10:00:00.002 UTC [1] db=nobat_booking app=nobat LOG:  statement: BEGIN;
2026-01-01 10:00:00.003 UTC [3] db=postgres app= LOG:  statement: SELECT '{_START}'
2026-01-01 10:00:00.004 UTC [1] db=nobat_payment app=nobat LOG:  execute __asyncpg_stmt_1__: \
SELECT payments.id
\tFROM payments FOR UPDATE
2026-01-01 10:00:00.004 UTC [1] db=nobat_payment app=nobat DETAIL:  Parameters: $1 = 'p'
2026-01-01 10:00:00.005 UTC [4] db=nobat_payment app= LOG:  statement: SELECT count(*) FROM payments
2026-01-01 10:00:00.006 UTC [1] db=nobat_payment app=nobat LOG:  duration: 0.083 ms  plan:
\tQuery Text: SELECT payments.id
\t\tFROM payments WHERE payments.id = $1::VARCHAR
\tIndex Scan using payments_pkey on payments  (cost=0.42..8.44) (actual time=0.07..0.07)
\t  Index Cond: (id = ($1)::text)
2026-01-01 10:00:00.006 UTC [1] db=nobat_payment app=nobat LOG:  statement: COMMIT;
2026-01-01 10:00:00.007 UTC [5] db=postgres app= LOG:  statement: SELECT '{_END}'
2026-01-01 10:00:00.008 UTC [1] db=nobat_payment app=nobat LOG:  statement: BEGIN;
2026-01-01 10:00:00.009 UTC [1] db=nobat_payment app=nobat LOG:  duration: 9.000 ms  plan:
\tQuery Text: SELECT 1
\tResult  (cost=0.00..0.01 rows=1) (actual time=0.01..0.01 rows=1)
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


def test_a_plan_is_read_with_its_query_and_only_from_the_run(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text(LOG)

    found = plans_logged(log)

    query = "SELECT payments.id FROM payments WHERE payments.id = $1::VARCHAR"
    assert list(found) == [("nobat_payment", query)]
    [(took, plan)] = found["nobat_payment", query]
    assert took == 0.083
    assert plan.splitlines() == [
        "Index Scan using payments_pkey on payments  (cost=0.42..8.44) (actual time=0.07..0.07)",
        "  Index Cond: (id = ($1)::text)",
    ]
