"""Which pandas methods write data out, and where each one's target is.

Every public ``to_*`` method of DataFrame, Series and Styler is listed either here as a writer
or in :data:`NOT_WRITERS` with the reason it is not one. ``tests/integrations/
test_pandas_writers.py`` checks the lists against pandas itself, so a writer added by a future
pandas fails the suite until it is governed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["path", "sql", "clipboard", "iceberg"]


@dataclass(frozen=True, slots=True)
class Writer:
    """One writer method: where its target argument is and how the target is named."""

    method: str
    keyword: str  # the target's keyword argument
    position: int = 0  # the target's position after ``self``
    kind: Kind = "path"
    embeds: bool = False  # the file format carries DataFrame.attrs (Parquet key-value metadata)


DATAFRAME_WRITERS: tuple[Writer, ...] = (
    Writer("to_csv", "path_or_buf"),
    Writer("to_parquet", "path", embeds=True),
    Writer("to_json", "path_or_buf"),
    Writer("to_excel", "excel_writer"),
    Writer("to_feather", "path"),
    Writer("to_pickle", "path"),
    Writer("to_orc", "path"),
    Writer("to_hdf", "path_or_buf"),
    Writer("to_stata", "path"),
    Writer("to_xml", "path_or_buffer"),
    Writer("to_html", "buf"),
    Writer("to_latex", "buf"),
    Writer("to_markdown", "buf"),
    Writer("to_string", "buf"),
    Writer("to_clipboard", "", kind="clipboard"),
    Writer("to_sql", "name", kind="sql"),
    Writer("to_iceberg", "table_identifier", kind="iceberg"),
)

SERIES_WRITERS: tuple[Writer, ...] = (
    Writer("to_csv", "path_or_buf"),
    Writer("to_json", "path_or_buf"),
    Writer("to_excel", "excel_writer"),
    Writer("to_pickle", "path"),
    Writer("to_hdf", "path_or_buf"),
    Writer("to_latex", "buf"),
    Writer("to_markdown", "buf"),
    Writer("to_string", "buf"),
    Writer("to_clipboard", "", kind="clipboard"),
    Writer("to_sql", "name", kind="sql"),
)

STYLER_WRITERS: tuple[Writer, ...] = (
    Writer("to_excel", "excel_writer"),
    Writer("to_html", "buf"),
    Writer("to_latex", "buf"),
    Writer("to_string", "buf"),
    Writer("to_typst", "buf"),
)

# Public to_* methods that return a value in memory and never write anywhere themselves.
NOT_WRITERS: dict[str, str] = {
    "to_dict": "returns a dict",
    "to_numpy": "returns an array",
    "to_records": "returns a record array",
    "to_list": "returns a list",
    "to_frame": "returns a DataFrame",
    "to_period": "converts the index",
    "to_timestamp": "converts the index",
    "to_xarray": "returns an xarray object",
    "to_series": "Index.to_series: returns a Series",
    "to_datetime": "pd.to_datetime: converts values in memory",
    "to_numeric": "pd.to_numeric: converts values in memory",
    "to_timedelta": "pd.to_timedelta: converts values in memory",
}


def writers_of(owner_name: str) -> tuple[Writer, ...]:
    return {"DataFrame": DATAFRAME_WRITERS, "Series": SERIES_WRITERS,
            "Styler": STYLER_WRITERS}[owner_name]
