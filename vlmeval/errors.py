"""Errors caused by user input: the CLI prints them in one line and exits with status 2.

Messages name the thing, the value received, the valid options and the fix.
"""


class UserError(Exception):
    """Bad input (a name, an option, a file); never a bug in vlmeval."""


class ConfigError(UserError, ValueError):
    """An option or argument with an invalid value."""


class DataError(UserError, ValueError):
    """A data file that cannot be read as the format it claims (names the file and field)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is so the run ends as interrupted (the CLI exits 143)."""
