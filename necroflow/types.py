"""NodeType: the kinds of files a rule consumes and produces.

A NodeType subclass names one kind of output (``Bam``) and the filename it is stored
under inside its node folder.  Subclassing declares a subtype: a rule that accepts
``Bam`` also accepts ``SortedBam``.  ``Bam[bam]`` in a return annotation binds the type to
the output label ``bam`` used in the command template.

A type may declare companion files that always travel with the main file (an index beside
its BAM): ``companions = (".bai",)`` appends a suffix to ``filename`` (``x.bam.bai``), any
other entry is a full file name (``("genome.fa.fai", "genome.fa.bwt")``).  The producing
job must write them all; they are hashed with the main file, cleared before a rerun and
removed with it by autoclean, and consumers find them beside the main file.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .store.folder import RIP

RESERVED_NAMES = frozenset({"", ".", "..", RIP})


def check_component(value: object, what: str) -> str:
    """Refuse anything that is not one plain path component inside a node folder."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    if (
        value in RESERVED_NAMES
        or "/" in value
        or "\\" in value
        or "\0" in value
        or value.startswith(RIP)
        or value != value.strip()
    ):
        raise ValueError(
            f"{what} {value!r} is not a plain file name: it must be non-empty, contain no "
            f"'/' or NUL, not be '.', '..' or start with '.rip', and have no surrounding spaces"
        )
    if len(value.encode()) > 255:
        raise ValueError(f"{what} {value[:40]!r}... is longer than 255 bytes")
    return value


class Binding:
    """``Bam[bam]``: an output type bound to the label that names it in the command."""

    __slots__ = ("type", "label")

    def __init__(self, type_: type[NodeType], label: str) -> None:
        self.type = type_
        self.label = label

    def __repr__(self) -> str:
        return f"{self.type.__name__}[{self.label}]"


def companion_names(filename: str, companions: Any, where: str) -> tuple[str, ...]:
    """Full file names of a type's companions, checked like filenames."""
    if isinstance(companions, str) or not isinstance(companions, (tuple, list)):
        raise TypeError(f"{where}.companions must be a tuple of suffixes or file names, e.g. ('.bai',)")
    names: list[str] = []
    for c in companions:
        if not isinstance(c, str) or not c:
            raise TypeError(f"{where}.companions holds {c!r}; each entry is a suffix ('.bai') or a file name")
        name = check_component(filename + c if c.startswith(".") else c, f"{where} companion")
        if name == filename or name in names:
            raise ValueError(f"{where}.companions: {name!r} appears twice (or is the main file)")
        names.append(name)
    return tuple(names)


class NodeTypeMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any], **kw: Any) -> NodeTypeMeta:
        if "filename" in ns:
            check_component(ns["filename"], f"NodeType {name}.filename")
        cls = super().__new__(mcls, name, bases, ns, **kw)
        filename = getattr(cls, "filename", None)
        companions = getattr(cls, "companions", ())
        if filename is not None:
            cls._files = (filename, *companion_names(filename, companions, f"NodeType {name}"))  # type: ignore[attr-defined]
        elif companions:
            raise TypeError(f"NodeType {name} declares companions but no filename")
        return cls

    def __getitem__(cls, label: Any) -> Binding:
        if isinstance(label, str):
            return Binding(cls, label)  # type: ignore[arg-type]
        raise TypeError(
            f"{cls.__name__}[...] takes an output label; write it unquoted with "
            "'from __future__ import annotations', or as a string: "
            f"{cls.__name__}['label']"
        )


class NodeType(metaclass=NodeTypeMeta):
    """Base class of all file kinds.  Subclasses set ``filename``; the docstring describes it."""

    filename: ClassVar[str]
    companions: ClassVar[tuple[str, ...]] = ()
    _files: ClassVar[tuple[str, ...]]

    @classmethod
    def description(cls) -> str:
        doc = cls.__doc__ if "__doc__" in cls.__dict__ else None
        return (doc or "").strip()

    @classmethod
    def files(cls) -> tuple[str, ...]:
        """The main file name, then every companion's full name."""
        return cls._files

    @classmethod
    def type_id(cls) -> str:
        """What the fingerprint records of a type: its name and filename (and companions), never
        its module path (which differs between ``python script.py`` and an import of the file)."""
        base = f"{cls.__name__}:{getattr(cls, 'filename', '')}"
        files = getattr(cls, "_files", ())
        return base if len(files) < 2 else base + "+" + ",".join(files[1:])


class Log(NodeType):
    """A log a command writes itself (``2> {log}``): shown with the failure when the job fails.

    Subclass it with your own filename: ``class AlignLog(Log): filename = "align.log"``.
    """

    filename = "log.txt"


def is_node_type(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, NodeType) and obj is not NodeType
