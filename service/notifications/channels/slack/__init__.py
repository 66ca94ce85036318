"""Slack: one message per incident per channel through slack_sdk, updated in place, with buttons."""
