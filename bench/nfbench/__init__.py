"""The benchmark harness behind bench/run.py; see that file for the methodology."""
