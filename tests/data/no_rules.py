"""A factory that wants a Rules argument in a module that defines none."""

from necroflow import Pipeline


def factory(config, R):
    """Two parameters, but nothing to pass as the second one."""
    return Pipeline()
