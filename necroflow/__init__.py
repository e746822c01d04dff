"""necroflow: typed rules, content-addressed caching, parallel execution of shell pipelines."""

from .execute import Interrupted, JobFailed, Reporter, RunReport
from .graph import DAG, Job, Node, Pipeline, resolve_command
from .resources import parse_resource
from .rules import Constraints, Inputs, Outputs, Rule, RuleError, Rules
from .schedule import default_scheduler, fifo_scheduler, smallest_component_scheduler
from .store import OutdirLocked
from .types import NodeType

__version__ = "0.1.0"

__all__ = [
    "DAG", "Constraints", "Inputs", "Interrupted", "Job", "JobFailed", "Node", "NodeType", "OutdirLocked",
    "Outputs", "Pipeline", "Reporter", "Rule", "RuleError", "Rules", "RunReport", "default_scheduler",
    "fifo_scheduler", "parse_resource", "resolve_command", "smallest_component_scheduler",
]
