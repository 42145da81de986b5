"""``INSERT INTO`` a temporary view over a JDBC table writes to that database table. Only views
over files were recognised: any other view was decided as a write to a managed catalog table of
its name ("PROPRIETARY data may go to a database that keeps classification labels"), and the
rows went to the view's database, one on another host too. Now the write is decided as one to
the JDBC URL, and a view over another data source as a write to a place Lacuna cannot name."""

from __future__ import annotations

from pathlib import Path

from lacuna.spark import writes

URL = "jdbc:derby:memory:s5views;create=true"
DRIVER = "org.apache.derby.jdbc.EmbeddedDriver"


def test_insert_into_a_view_over_a_jdbc_table_is_a_write_to_that_table(gspark,
                                                                        governed: Path) -> None:
    spark = gspark
    (spark.createDataFrame([("x",)], ["contact"])._jdf.write().format("jdbc")
     .option("url", URL).option("dbtable", "T").option("driver", DRIVER)
     .mode("overwrite").save())  # the database's table, made outside Lacuna
    spark.sql(f"CREATE TEMPORARY VIEW s5_jdbc USING org.apache.spark.sql.jdbc "
              f"OPTIONS (url '{URL}', dbtable 'T', driver '{DRIVER}')")
    spark.sql(f"CREATE TEMPORARY VIEW s5_csv USING csv "
              f"OPTIONS (path '{governed / 'customers.csv'}', header 'true')")
    try:
        target = writes.table_target(spark, "s5_jdbc", append=True, views=True)
        # was: the managed catalog table spark_catalog.default.s5_jdbc
        assert (target.kind, target.name, target.append) == ("jdbc", f"{URL}#T", True)
        # the files of a view over files, as before; a name that is no view: the catalog table
        files = writes.table_target(spark, "s5_csv", append=True, views=True)
        assert (files.kind, files.name) == ("path", str(governed / "customers.csv"))
        table = writes.table_target(spark, "s5_no_view", append=True, views=True)
        assert (table.kind, table.name) == ("table", "spark_catalog.default.s5_no_view")
    finally:
        spark.catalog.dropTempView("s5_jdbc")
        spark.catalog.dropTempView("s5_csv")
