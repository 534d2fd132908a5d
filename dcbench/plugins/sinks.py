"""Built-in result sinks: the run folder's parquet and CSV tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dcbench import hookimpl
from dcbench.errors import ConfigError


class TableFileSink:
    """``epochs.parquet|csv`` rewritten atomically after every epoch, then the summary.

    Rewriting the whole (small) table keeps every file complete and loadable at any
    moment, even while the run is going or after it was killed.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.rows: list[dict[str, Any]] = []

    def write_epoch(self, row: Mapping[str, Any]) -> None:
        import pandas as pd

        from dcbench.results import write_table

        self.rows.append(dict(row))
        write_table(self.run_dir / "epochs", pd.DataFrame(self.rows))

    def write_summary(self, rows: Sequence[Mapping[str, Any]]) -> None:
        import pandas as pd

        from dcbench.results import write_table

        write_table(self.run_dir / "summary", pd.DataFrame([dict(r) for r in rows]))

    def close(self) -> None:
        """Nothing is buffered: every write is already on disk."""


def _make_files(*, run_dir: Path, **options: Any) -> TableFileSink:
    if options:
        raise ConfigError(f"sink 'files' takes no options, got {', '.join(sorted(options))}")
    return TableFileSink(run_dir)


@hookimpl
def register_result_sinks(register) -> None:
    register(
        "files",
        _make_files,
        description="per-epoch and summary tables as parquet and CSV in the run folder",
    )
