"""The demo's last step: the sink fills the Iceberg tables, an analyst asks them a question."""

from __future__ import annotations

from collections.abc import Callable

#: Order lines by state, from the latest status of every purchase order.
ORDER_LINES_BY_STATE = """
SELECT line.state AS line_state, count(*) AS lines,
       sum(line.ordered_qty) AS ordered, sum(line.shipped_qty) AS shipped,
       sum(line.received_qty) AS received
FROM (SELECT unnest(lines) AS line FROM order_line_status_latest)
GROUP BY 1 ORDER BY 1
""".strip()


def fill_and_ask(backbone: Callable[..., bytes], env: dict[str, str]) -> None:
    """``backbone sink iceberg --once`` then ``backbone query`` (``backbone`` runs a command)."""
    backbone(env, "sink", "iceberg", "--once")
    print(backbone(env, "query", "--tables").decode(), end="")
    print(backbone(env, "query", " ".join(ORDER_LINES_BY_STATE.split())).decode(), end="")
