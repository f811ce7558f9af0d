"""The Iceberg sink: canonical topics as Apache Iceberg tables, exactly once (README.md)."""
