"""necroflow: typed rules, content-addressed caching, parallel execution of shell pipelines."""

from .command import resolve_command
from .constraints import Constraints
from .declare import RuleError
from .graph import DAG, Pipeline
from .missing import check_input_file, missing_file_is_warning
from .nodes import Job, Node
from .reporting import Interrupted, JobFailed, Reporter, RunReport
from .resources import parse_resource
from .rules import Inputs, Outputs, Rule, Rules
from .schedule import default_scheduler, fifo_scheduler, smallest_component_scheduler
from .sources import SourceFile
from .store import OutdirLocked
from .types import Log, NodeType

__version__ = "0.1.0"

__all__ = [
    "DAG", "Constraints", "Inputs", "Interrupted", "Job", "JobFailed", "Log", "Node", "NodeType", "OutdirLocked",
    "Outputs", "Pipeline", "Reporter", "Rule", "RuleError", "Rules", "RunReport", "SourceFile", "check_input_file",
    "default_scheduler", "fifo_scheduler", "missing_file_is_warning", "parse_resource", "resolve_command", "smallest_component_scheduler",
]
