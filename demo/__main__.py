"""`make demo` / `python -m demo`: breach → incident → page → escalation → ack → resolve → RCA, narrated."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from demo.story import TOKEN, StoryOptions, run_story
from service.__main__ import FIRST_PASSWORD_FILE

OUTPUT = Path("demo-output")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where the RCA, logs and data go")
    parser.add_argument("--database-url", help="use this PostgreSQL instead of an embedded one")
    args = parser.parse_args()
    started = time.monotonic()
    output: Path = args.output.resolve()
    print("incidentd demo: a metric crosses 004's thresholds; watch the incident's whole life.\n", flush=True)
    try:
        result = asyncio.run(
            run_story(
                StoryOptions(
                    output=output,
                    database_url=args.database_url,
                    narrate=lambda line: print(line, flush=True),
                )
            )
        )
    except KeyboardInterrupt:
        print("\ninterrupted; everything the demo started has been stopped", file=sys.stderr)
        return 130
    except (TimeoutError, RuntimeError) as exc:
        print(f"\ndemo failed: {exc}\nservice log: {output / 'incidentd.log'}", file=sys.stderr)
        return 1
    print("\n" + "=" * 78)
    print(result.rca_markdown)
    print("=" * 78)
    took = time.monotonic() - started
    print(f"\nDone in {took:.0f} s; nothing is left running.")
    print(f"  RCA:          {result.rca_files[0]}")
    if len(result.rca_files) > 1:
        print(f"  RCA chart:    {result.rca_files[1]}")
    print(f"  service log:  {output / 'incidentd.log'}")
    print(f"  Slack, as people see it: {output / 'slack.html'}")
    print(f"  PagerDuty:    {len(result.pagerduty_events)} events received by the fake")
    print(f"  Slack:        {len(result.slack_calls)} Web API calls received by the fake")
    print(f"  Browse the demo's incident (served at {result.api_url}): start the service on its data,")
    print(f"    INCIDENTD_DATA_DIR={output / 'data'} INCIDENTD_API_TOKENS=demo={TOKEN} make run")
    print(f"  then open its page and log in as admin, {_first_admin(output / 'data' / FIRST_PASSWORD_FILE)}:")
    print(f"    http://127.0.0.1:8080/incidents/{result.incident_id}")
    print(
        f"    curl -H 'Authorization: Bearer {TOKEN}' http://127.0.0.1:8080/api/v1/incidents/{result.incident_id}"
    )
    return 0


def _first_admin(secret: Path) -> str:
    """The one-time admin password the demo's service kept in its data folder (never in its log)."""
    try:
        return f"password {secret.read_text(encoding='utf-8').strip()}"
    except OSError:
        return "with the password from your first run"


if __name__ == "__main__":
    sys.exit(main())
