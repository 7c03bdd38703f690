"""Errors caused by user input: the CLI prints them in one line and exits with status 2.

Messages name the thing, the value received, the valid options and the fix.
"""


class UserError(Exception):
    """Bad input (a name, an option, a file); never a bug in vlmeval."""


class ConfigError(UserError, ValueError):
    """An option or argument with an invalid value."""


class DataError(UserError, ValueError):
    """A data file that cannot be read as the format it claims (names the file and field)."""


class Unavailable(Exception):
    """The model stays unreachable (a served model's endpoint is down): the run stops as
    interrupted, everything stored so far kept; the CLI prints it in one line and exits 3."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is so the run ends as interrupted (the CLI exits 143)."""


def first_line(e: BaseException) -> str:
    """An exception's first non-empty line (transformers' ImportErrors start with a newline),
    with the missing module named where Python knows it."""
    text = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
    missing = getattr(e, "name", None) if isinstance(e, ImportError) else None
    return f"{text} (missing package: {missing})" if missing and missing not in text else text
