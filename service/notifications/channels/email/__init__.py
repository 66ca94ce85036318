"""Email over SMTP (aiosmtplib): incident mail threaded per incident, and any message for an address."""
