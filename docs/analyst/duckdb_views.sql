-- The lake's tables as DuckDB views. Run from the lake directory (the paths are relative):
--   cd LAKE && duckdb -init /path/to/docs/analyst/duckdb_views.sql
-- then `.read /path/to/docs/analyst/<query>.sql`. Hive partition columns (`date`, `snapshot`,
-- `as_of`) become DATE columns; `plan` carries its own `as_of` column.
CREATE VIEW pulls AS
SELECT * FROM read_parquet('pulls/*/*.parquet', hive_partitioning = true);
CREATE VIEW inventory AS
SELECT * FROM read_parquet('inventory/*/*.parquet', hive_partitioning = true);
CREATE VIEW digest_stats AS
SELECT * FROM read_parquet('digest_stats/*/*.parquet', hive_partitioning = true);
CREATE VIEW plan AS
SELECT * FROM read_parquet('plan/*/plan.parquet', hive_partitioning = false);
