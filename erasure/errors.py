"""The one exception type a user sees."""


class ErasureError(Exception):
    """A problem the user can fix. The message is one line naming the file, key or value at fault."""
