"""A plugin whose hook name has a typo: must be rejected, naming the plugin."""

from dcbench import hookimpl


@hookimpl
def register_clusterer(register):  # should be register_clusterers
    register("never", lambda **kw: None)
