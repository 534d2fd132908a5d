"""One error family for everything a user can get wrong.

The CLI turns any :class:`DcbenchError` into a single line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DcbenchError(Exception):
    """A mistake the user can fix (bad option, missing data, unknown plugin)."""


class ConfigError(DcbenchError):
    """An option value that cannot work (k larger than the data set, bad image size)."""


class DataError(DcbenchError):
    """Missing, empty or unreadable data (no such path, no images, corrupt file)."""


class UnknownComponentError(DcbenchError):
    """A component name that no plugin registered."""


class DuplicateComponentError(DcbenchError):
    """Two plugins registered the same component name."""


class PluginError(DcbenchError):
    """A plugin that failed to load or implements a hook that does not exist."""
