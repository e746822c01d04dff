"""The bench "chain" workload as a necroflow job file: one combo per sample, for ``bench/gui.py``.

``bench/gui.py`` writes a job TOML whose ``sample__grid`` lists N samples and whose
``.pipeline`` is ``chain`` below; the rules are those of ``bench/necroflow_chain.py`` (one
shared reference job, then raw -> align -> count per sample: 3N+1 jobs).
"""

from __future__ import annotations

from necroflow_chain import chain_pipeline, r  # the job file's folder is on sys.path

from necroflow import Pipeline


def chain(config: dict) -> Pipeline:
    """One sample's chain; the job file gives ``sample``."""
    return chain_pipeline(str(config["sample"]), r)
