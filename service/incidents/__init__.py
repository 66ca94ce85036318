"""The incident application service: the one door every caller (API, Slack, rules, PagerDuty) goes through."""
