"""The one family of errors a user can cause.

Every message says what happened and what to do about it; the GUI shows it in
a dialog, the CLI prints it and exits non-zero. Programming errors stay plain
Python exceptions.
"""


class EBMError(Exception):
    """Base of every user-facing error."""


class ConfigError(EBMError, ValueError):
    """A setting or architecture that cannot work."""


class ModelFileError(EBMError):
    """A model file that is unreadable or does not match its architecture."""


class BackendError(EBMError):
    """A backend was requested that cannot be used here."""


class DataError(EBMError):
    """A data file that is missing, unreadable, truncated or not what it claims to be."""
