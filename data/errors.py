"""The one exception type for user mistakes.

Command-line tools catch it and print its message as a single line, so a bad file, name or
flag never ends in a traceback. The message names the file, the line and the fix.
"""


class InputError(ValueError):
    """Bad user input: a malformed file, an unknown name, an impossible option."""
