"""structlog for everything, panoramisk's stdlib logging included: console on a terminal, JSON lines otherwise.

Our own lines go from structlog's processors straight to stderr (``_LineWriter``): no stdlib ``LogRecord``, handler
or formatter per line, which cost as much as everything else about a line (8 % of the service's CPU at 100
calls). The stdlib loggers of the libraries (panoramisk, asyncio) still go through ``ProcessorFormatter`` with the
same processors, so everything comes out in one format. A line below the level is a no-op method of the filtering
bound logger: a hot path that logs at debug (``agi_command``, per AGI command) binds its logger once
(``log.bind()``) and so pays one method call per line, not the lazy proxy's lookup.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger


class _LineWriter:
    """Writes each rendered line and flushes it: to ``stream``, or (None) to whatever ``sys.stderr`` is when the
    line is written, so a test or a tool that swaps stderr after the configuration does not leave us writing to a
    closed file. Knows the name it was asked for (``get_logger(__name__)``), for the "logger" field."""

    def __init__(self, stream: TextIO | None, name: str | None, lock: threading.Lock) -> None:
        self.stream = stream
        self.name = name
        self._lock = lock  # one line at a time, also from threads (asyncio.to_thread)

    def msg(self, message: str) -> None:
        out = sys.stderr if self.stream is None else self.stream
        with self._lock:
            out.write(message + "\n")
            out.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = msg


class _LineWriterFactory:
    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, *args: Any) -> _LineWriter:
        return _LineWriter(self.stream, str(args[0]) if args else None, self.lock)


def _add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name is not None:
        event_dict["logger"] = name
    return event_dict


def configure_logging(
    fmt: Literal["auto", "console", "json"] = "auto",
    level: str = "info",
    stream: TextIO | None = None,
    *,
    worker: int | None = None,
) -> None:
    """Every line to ``stream`` (stderr; a benchmark gives /dev/null, to count the cost and not the lines).
    ``worker``: this process is that worker of several (callcenter/workers/): every line carries its index, so a
    call's lines can be told apart from another worker's in one interleaved stream."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    out = sys.stderr if stream is None else stream
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    renderer: Processor = structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    exceptions: list[Processor] = [] if use_console else [structlog.processors.format_exc_info]
    # a processor, not a context variable: every FastAGI session clears the context when it starts
    index: list[Processor] = [] if worker is None else [_WorkerIndex(worker)]
    structlog.configure(
        processors=[
            # the call's uniqueid/channel/route, bound once per FastAGI session, rides on every line
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_logger_name,
            timestamper,
            *index,
            structlog.processors.StackInfoRenderer(),
            *exceptions,
            renderer,
        ],
        logger_factory=_LineWriterFactory(stream),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
                *index,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *exceptions, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # panoramisk logs every message it parses at DEBUG and its reconnect chatter at INFO; ours says it better
    logging.getLogger("panoramisk").setLevel(max(numeric, logging.WARNING))


class _WorkerIndex:
    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, _logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("worker", self.index)
        return event_dict
