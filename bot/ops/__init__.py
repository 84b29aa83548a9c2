"""Running the bot unattended: the /healthz and /metrics endpoint, the container's health
check, the single-instance lock, logging with the token redacted.

May import every stage below it (models to delivery); not the pipeline, the handlers or the app.
"""
