"""A module with two Rules registries: necroflow cannot tell which one the factory means."""

from necroflow import Pipeline, Rules

A = Rules()
B = Rules()


def factory(config, R):
    """Two parameters and two candidates for the second."""
    return Pipeline()
