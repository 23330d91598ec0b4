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
                    *_renderers(renderer),
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


def _renderers(renderer: str) -> list:
    """JSON lines carry an exception as its formatted traceback text (`exception`), not the repr
    of an exc_info tuple; the console renderer formats exceptions itself."""
    if renderer == "json":
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    return [structlog.dev.ConsoleRenderer(colors=False)]
