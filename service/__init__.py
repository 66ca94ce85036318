"""incidentd: threshold rules, incidents P0-P3, escalation, PagerDuty and Slack, RCA documents."""
