"""Reading task lines from an RCA's Action Items section, and writing item ids back into them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from service.domain.action_items import ActionItem, ItemStatus
from service.domain.rca_typed_items import typed_items, written_back

DOC = """## Incident

### Root cause

- [ ] Not an item: another section

### Action Items

<!-- incidentd:begin action_items -->
- [ ] Inside the machine section
<!-- incidentd:end action_items -->

- [ ] Add an index @bob due 2026-12-15
* [ ] 2026-12-20 Alert on pool saturation
- [ ] _Prevention task (owner, due date)_
- [x] Rolled back already
- [ ] AI-9 Already an item

```
- [ ] inside a fence
```

#### Sub heading still in the section

- [ ] Shard the table due 2026-02-30

## Appendix

- [ ] Not an item either
"""


def _item(item_id: int, title: str, status: ItemStatus = ItemStatus.OPEN) -> ActionItem:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    return ActionItem(
        id=item_id,
        incident_id=1,
        human_id="INC-1",
        title=title,
        owner="",
        due_on=date(2026, 12, 15),
        status=status,
        link="",
        created_by="alice",
        created_at=at,
        updated_at=at,
    )


def test_only_open_untagged_task_lines_of_the_section_are_read() -> None:
    found = typed_items(DOC)
    assert [(i.title, i.owner, i.due_on) for i in found.items] == [
        ("Add an index", "@bob", date(2026, 12, 15)),
        ("Alert on pool saturation", "", date(2026, 12, 20)),
    ]
    line = DOC[: DOC.index("- [ ] Shard")].count("\n") + 1
    assert found.problems == (
        f"line {line}: due: '2026-02-30' is not a day; write YYYY-MM-DD, e.g. 2026-12-15;"
        " the line was kept as text, not made an action item",
    )


def test_a_document_without_the_section_has_no_items() -> None:
    assert typed_items("## Notes\n\n- [ ] a task elsewhere\n").items == ()


def test_write_back_adds_ids_and_keeps_boxes_in_step_with_status() -> None:
    items = [_item(3, "Add an index"), _item(4, "alert on POOL saturation", ItemStatus.DONE)]
    first = written_back(DOC, items)
    assert "\n- [ ] AI-3 Add an index @bob due 2026-12-15\n" in first
    assert "\n* [x] AI-4 2026-12-20 Alert on pool saturation\n" in first
    assert first.replace("AI-3 ", "").replace("[x] AI-4 ", "[ ] ") == DOC  # nothing else changed
    assert written_back(first, items) == first
    reopened = written_back(first, [items[0], _item(4, "alert on POOL saturation")])
    assert "\n* [ ] AI-4 2026-12-20 Alert on pool saturation\n" in reopened
    assert "- [ ] AI-9 Already an item" in reopened  # another incident's id: left alone
