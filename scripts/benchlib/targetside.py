"""The summary's "Targets' side": what a shootdown costs the CPUs it interrupts, from the
records' `breakdown` and `refill` (docs/records.md), medians of the repetitions' p50s."""

from __future__ import annotations

from typing import List

from .cells import backend_cell, fmt_int, table
from .scenarios import by_config, varying

FIELDS = ("entry_p50_cycles", "handler_p50_cycles", "seen_p50_cycles",
          "offset_uncertainty_cycles", "refill_per_page_p50_cycles")
HEADER = ["guest", "platform", "vCPUs", "backend", "workload", "pages", "entry", "handler",
          "seen", "± offset", "refill / page"]
CAPTION = ("Cycles, medians of the repetitions' p50s, one initiator. entry: the start of the "
           "shootdown to a target's handler entry, in CPU 0's time (`breakdown=1` only: the "
           "entry stamp delays the ack); handler: entry to exit on the target's own clock, the "
           "reader's time lost inside the handler (delivery and return not included); seen: the "
           "last acknowledgement to the end of the initiator's window (which includes the "
           "initiator's own remaining work when the ack came early); ± offset: the largest "
           "TSC-offset uncertainty of the targets, which bounds entry and seen; refill / page: "
           "what refilling its TLB after the scenario's flush costs a reader, per page (a timed "
           "sweep after the flush minus an identical one after it).")


def section(aggs: List[dict]) -> List[str]:
    rows = [a for a in by_config(aggs) if any(a.get(f) is not None for f in FIELDS)]
    if not rows:
        return []
    options = varying(rows)
    body = [[a["guest"], a["platform"], str(a["vcpus"]), backend_cell(a, options), a["workload"],
             str(a["pages"])] + [fmt_int(a.get(f)) for f in FIELDS] for a in rows]
    return ["## Targets' side", ""] + table(HEADER, body) + ["", CAPTION, ""]
