"""One local Spark session for the whole test session (it takes ~11 s to start)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark", reason="pyspark (the 'spark' extra) is not installed")


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from pyspark.sql import SparkSession

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime for Spark")
    root = tmp_path_factory.mktemp("spark")
    # the Python workers must be this interpreter (the venv), not the system's python3
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lacuna-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.warehouse.dir", str(root / "warehouse"))
        # the JIT's first tier only: the tests run many small, different queries once each, and
        # C2's profiling and compiles cost more CPU than they save (JVM and Python workers:
        # ~35% less CPU for test_spark_bindings.py and test_spark_engine.py alone, ~17% for the
        # whole folder); what Spark computes and plans is the same
        .config("spark.driver.extraJavaOptions",
                f"-Dderby.system.home={root} -XX:TieredStopAtLevel=1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    import lacuna.spark

    lacuna.spark.disable()
    session.stop()


@pytest.fixture
def gspark(spark: object, governed: Path) -> Iterator[object]:
    """The session, governed with the sandbox's configuration (see tests/conftest.py)."""
    import lacuna.spark

    lacuna.spark.enable(spark)  # type: ignore[arg-type]
    yield spark
    lacuna.spark.disable(spark)  # type: ignore[arg-type]
    spark.conf.unset("spark.lacuna.enabled")  # type: ignore[attr-defined]


def data_file(name: str) -> str:
    return str(resources.files("lacuna") / "data" / name)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from lacuna.spark._jvm import PANDAS_WARNING

    for item in items:
        if "tests/spark/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.filterwarnings(f"ignore:{PANDAS_WARNING}"))
            item.add_marker(pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"))
            item.add_marker(pytest.mark.filterwarnings("ignore:toPandas attempted Arrow"))
