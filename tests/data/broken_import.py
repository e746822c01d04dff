"""A factory module that fails while being imported."""

from necroflow import Pipeline

TABLE = {"a": 1}
VALUE = TABLE["b"]


def factory(config):
    return Pipeline()
