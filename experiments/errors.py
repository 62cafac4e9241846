"""Errors that stop a run early with a message that names the problem and the fix."""


class SuiteError(Exception):
    """Base class: the CLI prints these without a traceback."""


class ConfigError(SuiteError):
    """An unknown key, a wrong type or an invalid value in an experiment config."""


class DatasetError(SuiteError):
    """A dataset is missing, corrupt or cannot be prepared."""


class DivergenceError(SuiteError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""
