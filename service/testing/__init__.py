"""Test doubles shipped beside the code they stand in for: embedded PostgreSQL, fake PagerDuty and Slack."""
