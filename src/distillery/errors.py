"""User-facing errors: the CLI prints one line for these and exits with code 2."""


class DistilleryError(Exception):
    """An error caused by the user's input (config, data, model spec, CLI argument).

    The message must say *what* is wrong and *where* (file, key path, column) in one line.
    """


class NumericalFault(DistilleryError):
    """A non-finite loss or gradient during training; the run stops and keeps its last good checkpoint."""


class InUse(DistilleryError):
    """A run directory, cache or head that another distillery process holds (its lock is taken)."""
