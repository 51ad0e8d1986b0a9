"""Error types the CLI turns into clean messages instead of tracebacks."""


class UserError(Exception):
    """Bad input from the user (suite file, flag, data path): printed as is, exit code 2."""


class Divergence(RuntimeError):
    """A run produced a non-finite loss or metric; the run fails, the sweep goes on."""


class Preempted(BaseException):
    """Raised inside a training loop after a checkpoint was saved on SIGTERM/SIGUSR2.

    A BaseException so that a method's own ``except Exception`` cannot swallow it.
    """


class CorruptCheckpoint(RuntimeError):
    """A checkpoint that cannot be restored; the runner sets its attempt aside and starts anew."""
