"""The logging configuration (settings.LOGGING): standard logging everywhere, rendered by
structlog with each record's extra fields — JSON lines in production, readable in the demo."""

import structlog


def logging_config(*, level: str, renderer: str) -> dict:
    """A `dictConfig` for web, workers and beat alike; `renderer` is `json` or `console`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": [
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    structlog.stdlib.ExtraAdder(),
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                ],
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer()
                    if renderer == "json"
                    else structlog.dev.ConsoleRenderer(colors=False),
                ],
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "azure": {"level": "WARNING"},
            "django.db.backends": {"level": "INFO"},
        },
    }
