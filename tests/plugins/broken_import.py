"""A plugin that cannot be imported."""

raise ImportError("this plugin needs a package that is not installed")
