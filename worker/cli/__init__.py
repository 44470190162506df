"""The ``tunesmith`` command line."""
