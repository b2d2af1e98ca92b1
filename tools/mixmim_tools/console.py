"""A readable terminal for the plugin's tools: progress on the console,
everything in the log file.

mmengine's Runner prints the environment, the whole config and one line
per parameter group (``paramwise_options``) to the terminal before the
first loss line, and logs every 50 iterations, so a short run shows no
progress at all. :class:`ProgressRunner` keeps the log file complete and
lets only progress lines (epoch/iteration, loss, lr, ETA), checkpoint and
precision notices, warnings and errors through to the console; it also
shortens the logging interval of runs too short for the config's interval
to show anything.
"""
import logging
from typing import Optional

from mmengine.hooks import LoggerHook
from mmengine.logging import MMLogger

from mixmim_plugin.engine.runner import FaultTolerantRunner

# INFO lines that reach the console (after their timestamp prefix)
CONSOLE_PREFIXES = ('Epoch(', 'Iter(', 'Saving checkpoint', 'precision:',
                    'Checkpoints will be saved', 'resumed', 'Exp name',
                    'full log:', 'logging every', 'Load checkpoint from',
                    'load ', 'resume:')
# mmengine's own deprecation notices about its internals: log file only
CONSOLE_NOISE = ('"FileClient" will be deprecated',
                 '"HardDiskBackend" is the alias')
LOG_LINES_PER_RUN = 10


class ConsoleProgressFilter(logging.Filter):
    """Pass errors, warnings (but mmengine's ``CONSOLE_NOISE``) and the
    INFO lines of ``CONSOLE_PREFIXES``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage().lstrip()
        if record.levelno >= logging.WARNING:
            return not message.startswith(CONSOLE_NOISE)
        return message.startswith(CONSOLE_PREFIXES)


def quiet_console(logger: MMLogger) -> Optional[str]:
    """Filter ``logger``'s console handler; return its log file, if any."""
    log_file = None
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            log_file = handler.baseFilename
        elif isinstance(handler, logging.StreamHandler):
            handler.addFilter(ConsoleProgressFilter())
    return log_file


def progress_interval(configured: int, total_iters: int) -> int:
    """The logging interval: the config's, unless the run is too short to
    log ``LOG_LINES_PER_RUN`` times with it."""
    return max(1, min(configured, total_iters // LOG_LINES_PER_RUN))


class ProgressRunner(FaultTolerantRunner):
    """The plugin's :class:`~mixmim_plugin.engine.FaultTolerantRunner` with
    a progress-only console (see the module)."""

    def build_logger(self, *args, **kwargs) -> MMLogger:
        logger = super().build_logger(*args, **kwargs)
        log_file = quiet_console(logger)
        if log_file is not None:
            logger.info(f'full log: {log_file}')
        return logger

    def train(self):
        total = self.train_loop.max_iters
        for hook in self.hooks:
            if isinstance(hook, LoggerHook):
                interval = progress_interval(hook.interval, total)
                if interval != hook.interval:
                    self.logger.info(
                        f'logging every {interval} iterations (the '
                        f'config\'s {hook.interval} is long for a run of '
                        f'{total})')
                    hook.interval = interval
        return super().train()
