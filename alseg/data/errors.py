"""The one error type of dataset input."""


class DataError(ValueError):
    """Bad dataset input (a file, a folder or a class list); the message names it."""
