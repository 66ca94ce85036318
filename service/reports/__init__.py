"""Reports: the daily summary (email and Slack digest, once a day across replicas) and response metrics."""
