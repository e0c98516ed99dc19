"""User-facing errors: raised before training starts, printed as one message without a traceback."""


class GanforgeError(Exception):
    """A problem the user can fix (config, data, environment); the message says how."""


class DataNotFoundError(GanforgeError):
    """The dataset is not on disk and could not be downloaded."""
