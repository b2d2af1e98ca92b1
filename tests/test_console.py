"""The progress console of the plugin's tools (mixmim_tools.console):
progress lines and warnings reach the terminal, the config dump and the
parameter-group listing only the log file."""
import logging

from mmengine.logging import MMLogger

from mixmim_tools.console import progress_interval, quiet_console


def test_console_shows_progress_and_the_file_keeps_everything(tmp_path):
    log_file = tmp_path / 'run.log'
    logger = MMLogger.get_instance(
        'console-test', log_file=str(log_file), file_mode='w')
    assert quiet_console(logger) == str(log_file)
    shown = []
    console = next(
        h for h in logger.handlers if type(h) is logging.StreamHandler)
    console.emit = lambda record: shown.append(record.getMessage())
    logger.info('Config:\nmodel = dict(...)')
    logger.info('paramwise_options -- backbone.norm.weight:lr=0.001')
    logger.info('Epoch(train) [1][ 3/18]  lr: 1.0e-04  eta: 0:00:20  '
                'loss: 1.0697')
    logger.info('precision: bfloat16 autocast on the CPU')
    logger.warning('"FileClient" will be deprecated in future.')
    logger.warning('the loss is NaN')
    assert shown == [
        'Epoch(train) [1][ 3/18]  lr: 1.0e-04  eta: 0:00:20  loss: 1.0697',
        'precision: bfloat16 autocast on the CPU', 'the loss is NaN'
    ]
    for handler in logger.handlers:
        handler.flush()
    text = log_file.read_text()
    assert 'Config:' in text and 'paramwise_options' in text
    assert '"FileClient" will be deprecated' in text


def test_progress_interval_fits_short_runs():
    assert progress_interval(50, 1) == 1
    assert progress_interval(50, 36) == 3
    assert progress_interval(50, 2400) == 50
    assert progress_interval(6, 360) == 6
