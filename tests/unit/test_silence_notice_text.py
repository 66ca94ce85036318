from service.notifications.silence_notices import notice_text


def test_matchers_read_as_amtool_takes_them_and_outside_text_cannot_ping() -> None:
    text = notice_text(
        {
            "event": "started",
            "id": "3f1c",
            "matchers": 'service=~"pay.*",alertname!="Disk<Full>"',
            "created_by": "<!channel> mallory",
            "ends_at": "2026-12-01T12:00:00Z",
            "comment": "*swap* the `disk`",
        }
    )
    assert '`service=~"pay.*",alertname!="Disk&lt;Full&gt;"`' in text
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; mallory" in text
    assert "*swap*" not in text
    assert "`disk`" not in text


def test_an_early_end_names_who_ended_it() -> None:
    text = notice_text({"event": "ended", "id": "3f1c", "expired_by": "alice", "matchers": "a=b"})
    assert text == ":loud_sound: Silence `3f1c` ended early by alice: `a=b` pages again"
