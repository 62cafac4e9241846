"""Errors that stop a run early with a message that names the problem and the fix."""


class SuiteError(Exception):
    """Base class: the CLI prints these without a traceback."""


class ConfigError(SuiteError):
    """An unknown key, a wrong type or an invalid value in an experiment config."""


class DatasetError(SuiteError):
    """A dataset is missing, corrupt or cannot be prepared."""


class DivergenceError(SuiteError):
    """The loss became non-finite or exploded; the last good checkpoint is kept."""


class RunFolderError(SuiteError):
    """A file of a run folder cannot be read (corrupt, cut short) or written.
    ``problem`` is the short reason, without the path and the fix."""

    def __init__(self, message: str, problem: str = ""):
        super().__init__(message)
        self.problem = problem or message


class RunLockedError(SuiteError):
    """Another live process holds the run folder (or the data directory)."""
