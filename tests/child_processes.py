"""Live child processes of a process, read from /proc: tests that a stopped command or a
cancelled job leaves no Blender step running."""
from __future__ import annotations

from pathlib import Path


def _stat_fields(pid_dir: Path) -> list[str] | None:
    """State, parent pid, ... of a /proc/PID folder (after "pid (comm) "), None when gone."""
    try:
        stat = (pid_dir / "stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def children(pid: int, argv_has: str | None = None) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``; with ``argv_has``, only those with
    that word among their command-line arguments."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields is None or int(fields[1]) != pid or fields[0] == "Z":
            continue
        if argv_has is not None:
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv_has.encode() not in argv:
                continue
        found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie does not)."""
    fields = _stat_fields(Path(f"/proc/{pid}"))
    return fields is not None and fields[0] != "Z"
