"""PagerDuty: Events API v2 out through the `pagerduty` package, signed v3 webhooks in."""
