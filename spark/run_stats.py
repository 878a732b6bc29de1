"""blobtier's `stats` on Spark: the same queries/digest_stats.sql over the same lake.

    spark-submit spark/run_stats.py --lake PATH --as-of YYYY-MM-DD [--windows 7,30,90] [--include-scanners]
        [--pull-source auto|s3|registry] [--blobtier PATH | --sql FILE]

Registers the lake's `pulls`, `failed_pulls` and `manifest_pulls` (Hive-partitioned, `date` kept a
string), the
latest `inventory` snapshot on or before as-of and the latest image-graph snapshot on or before
as-of (`blob_refs`, `manifest_refs`, `tags`: the newest part file of each, as blobtier reads them)
as temp views, runs queries/digest_stats.sql as blobtier expands it for Spark (`blobtier sql
--dialect spark`), and writes LAKE/digest_stats/as_of=DATE/part-0.parquet with blobtier's layout
and schema (staged under LAKE/_tmp/, then renamed into place).

PATH is anything Spark's Hadoop filesystem reads: a local directory, hdfs://, s3:// (EMR),
s3a://, gs:// (Dataproc), abfss:// or dbfs:/ (Databricks). The SQL comes from the blobtier
binary (--blobtier, else $BLOBTIER, else `blobtier` on PATH), run by the driver before the lake
is locked; where the driver has no blobtier (cluster deploy mode), expand it beforehand with
`blobtier sql --dialect spark --as-of DATE [--windows ...] [--include-scanners] digest_stats >
FILE` and pass `--files FILE --sql FILE`: its first line names the options it was expanded for,
and they must be this run's. See docs/scale.md.
"""
import argparse
import datetime
import os
import re
import shutil
import socket
import subprocess
import sys
import time

from pyspark import SparkFiles
from pyspark.sql import SparkSession
from pyspark.sql.types import StructField, StructType

# The schemas of the tables the query reads, for lakes that do not have them (yet): the output
# of `blobtier sql --dialect spark --schema TABLE` (tests/it/spark.rs checks they agree).
EMPTY_DDL = {
    "pulls": (
        "`digest` STRING, `client` STRING, `repo` STRING, `ua_class` STRING, `source` STRING, "
        "`pulls` BIGINT, `bytes` BIGINT, `first_at` TIMESTAMP, `last_at` TIMESTAMP, "
        "`requests` BIGINT, `date` STRING"
    ),
    "failed_pulls": (
        "`digest` STRING, `client` STRING, `ua_class` STRING, `source` STRING, `status` BIGINT, "
        "`error_code` STRING, `requests` BIGINT, `first_at` TIMESTAMP, `last_at` TIMESTAMP, "
        "`date` STRING"
    ),
    "manifest_pulls": (
        "`repo` STRING, `reference` STRING, `client` STRING, `ua` STRING, `ua_class` STRING, "
        "`source` STRING, `requests` BIGINT, `first_at` TIMESTAMP, `last_at` TIMESTAMP, "
        "`date` STRING"
    ),
    "blob_refs": (
        "`digest` STRING, `role` STRING, `media_type` STRING, `in_storage` BOOLEAN, "
        "`size` BIGINT, `ref_manifests` BIGINT, `ref_repos` BIGINT, `ref_tags` BIGINT, "
        "`referenced_by_tag` BOOLEAN, `manifests` ARRAY<STRING>, `repos` ARRAY<STRING>, "
        "`tags` ARRAY<STRING>"
    ),
    "manifest_refs": "`manifest` STRING, `digest` STRING, `role` STRING",
    "tags": "`repo` STRING, `tag` STRING, `manifest` STRING, `link_fingerprint` STRING",
}
GRAPH_TABLES = ("blob_refs", "manifest_refs", "tags")
# The first line of `blobtier sql --dialect spark … digest_stats`.
HEADER = re.compile(r"-- blobtier sql: queries/digest_stats\.sql for spark, (.*)")


def fail(message, code=1):
    print(f"run_stats: error: {message}", file=sys.stderr)
    sys.exit(code)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="run_stats.py", description=__doc__.split("\n")[0])
    ap.add_argument("--lake", required=True, help="lake root: a path or a Hadoop filesystem URI")
    ap.add_argument("--as-of", required=True, type=datetime.date.fromisoformat, help="YYYY-MM-DD")
    ap.add_argument("--windows", default="7,30,90", help="window lengths in days (default 7,30,90)")
    ap.add_argument("--include-scanners", action="store_true")
    ap.add_argument("--pull-source", default="auto", choices=("auto", "s3", "registry"),
                    help="which logs count pulls (blobtier's `[ingest] pull_source`; default auto)")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--blobtier", help="the blobtier binary that expands the query "
                     "(default: $BLOBTIER, else `blobtier` on PATH)")
    src.add_argument("--sql", help="the query as `blobtier sql --dialect spark … digest_stats` "
                     "printed it (a path, or the name of a file shipped with --files)")
    a = ap.parse_args(argv)
    try:
        # Sorted and without duplicates, as blobtier normalises them; blobtier checks the rest.
        a.windows = sorted({int(w) for w in a.windows.split(",")})
    except ValueError:
        ap.error(f"--windows: expected comma-separated day counts, got {a.windows!r}")
    a.lake = a.lake.rstrip("/")
    return a


def expanded_sql(a):
    """The query expanded for Spark and this run's options: `blobtier sql` run here, or the
    file given with --sql (a path, else shipped with --files: SparkFiles in client mode, the
    container's working directory in YARN cluster mode). Its first line must name this run's
    as-of, windows and scanner option."""
    if a.sql:
        for path in (a.sql, SparkFiles.get(os.path.basename(a.sql)),
                     os.path.join(os.getcwd(), os.path.basename(a.sql))):
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    text, source = f.read(), f"`{path}`"
                break
        else:
            fail(f"--sql `{a.sql}` not found (locally, or shipped with --files)")
    else:
        binary = a.blobtier or os.environ.get("BLOBTIER") or shutil.which("blobtier")
        if not binary:
            fail("no blobtier binary to expand the query: put `blobtier` on PATH, set BLOBTIER, "
                 "pass --blobtier PATH, or pass --sql FILE (see the script's help)")
        cmd = [binary, "sql", "--dialect", "spark", "--as-of", a.as_of.isoformat(),
               "--windows", ",".join(map(str, a.windows))]
        cmd += ["--include-scanners"] if a.include_scanners else []
        cmd += ["--pull-source", a.pull_source]
        cmd += ["digest_stats"]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as e:
            fail(f"could not run `{binary}`: {e}")
        if out.returncode != 0:
            fail(f"`{' '.join(cmd)}` failed: {out.stderr.strip()}", code=2)
        text, source = out.stdout, f"`{' '.join(cmd)}`"
    first = text.split("\n", 1)[0]
    m = HEADER.fullmatch(first)
    if not m:
        fail(f"{source} is not the output of `blobtier sql --dialect spark … digest_stats` "
             f"(its first line is {first!r})")
    got = dict(kv.split("=", 1) for kv in m.group(1).split())
    want = {"as_of": a.as_of.isoformat(), "windows": ",".join(map(str, a.windows)),
            "include_scanners": "true" if a.include_scanners else "false",
            "pull_source": a.pull_source}
    diff = [f"{k}={got.get(k)} (this run: {v})" for k, v in want.items() if got.get(k) != v]
    if diff:
        fail(f"{source} was expanded for other options: {', '.join(diff)}", code=2)
    return text


class Lake:
    """The lake through Spark's Hadoop filesystem (local, HDFS, S3, GCS, ADLS, DBFS alike)."""

    def __init__(self, spark, root):
        self.jvm = spark._jvm
        self.root = root
        fs = self.path(root).getFileSystem(spark._jsc.hadoopConfiguration())
        # The local filesystem (a checksumming wrapper) writes .crc side files and renames them
        # along; use the raw one underneath.
        if fs.getUri().getScheme() == "file":
            fs = fs.getRawFileSystem()
        self.fs = fs

    def path(self, *parts):
        return self.jvm.org.apache.hadoop.fs.Path("/".join(parts))

    def glob(self, *parts):
        return [s.getPath() for s in (self.fs.globStatus(self.path(*parts)) or [])]

    def rename(self, src, dst):
        if not self.fs.rename(src, dst):
            fail(f"could not rename `{src}` to `{dst}`")

    def latest_snapshot(self, as_of, table="inventory"):
        best = None
        for p in self.glob(self.root, table, "snapshot=*"):
            m = re.fullmatch(r"snapshot=(\d{4}-\d{2}-\d{2})", p.getName())
            if m and m.group(1) <= as_of.isoformat() and (best is None or m.group(1) > best[0]):
                best = (m.group(1), p.toString())
        return best

    def graph_snapshot(self, as_of):
        """The newest part file of each graph table in the latest `blob_refs` snapshot on or
        before as-of (a later run of the same day supersedes earlier parts), or None."""
        snap = self.latest_snapshot(as_of, "blob_refs")
        if snap is None:
            return None
        files = {}
        for table in GRAPH_TABLES:
            parts = sorted(p.toString() for p in
                           self.glob(self.root, table, f"snapshot={snap[0]}", "part-*.parquet"))
            if not parts:
                return None
            files[table] = parts[-1]
        return snap[0], files

    def lock(self):
        """Takes blobtier's writer lock `_lock` (`<pid> <host>`), as every blobtier writer does."""
        me = f"{os.getpid()} {socket.gethostname()}"
        path = self.path(self.root, "_lock")
        for _ in range(2):
            try:
                out = self.fs.create(path, False)
                out.write(bytearray(me + "\n", "utf-8"))
                out.close()
                return path
            except Exception as e:  # FileAlreadyExistsException (or IOException on some stores)
                if not self.fs.exists(path):
                    raise
                stream = self.fs.open(path)
                holder = self.jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8").strip()
                stream.close()
                pid, _, host = holder.partition(" ")
                stale = (host == socket.gethostname() and pid.isdigit()
                         and not os.path.exists(f"/proc/{pid}"))
                if not stale:
                    fail(f"lake `{self.root}` is locked by another run (pid {holder}); remove "
                         f"`{path}` if that process is gone ({type(e).__name__})")
                print(f"run_stats: taking over a stale lock `{path}` ({holder})", file=sys.stderr)
                self.fs.delete(path, False)
        fail(f"could not take the lock `{path}`")


def as_nullable(spark, df):
    """`df` with every column nullable, as blobtier (Polars) writes them; Spark would write the
    counts and in_inventory as required. Stays in the JVM (no rows through Python); the optimizer
    would fold away a nullable wrapper expression."""
    try:
        from pyspark.sql.classic.dataframe import DataFrame  # Spark 4
    except ImportError:
        from pyspark.sql import DataFrame  # Spark 3

    schema = StructType([StructField(f.name, f.dataType, True, f.metadata) for f in df.schema])
    jschema = spark._jvm.org.apache.spark.sql.types.DataType.fromJson(schema.json())
    return DataFrame(spark._jsparkSession.createDataFrame(df._jdf.javaRDD(), jschema), spark)


def main(argv):
    a = parse_args(argv)
    started = time.monotonic()
    # Expanded before anything starts, so a bad option leaves the lake as it was (a --sql file
    # shipped with --files is found through the SparkContext, below).
    sql = None if a.sql else expanded_sql(a)
    spark = SparkSession.builder.appName(f"blobtier-stats-{a.as_of}").getOrCreate()
    for key, value in {
        "spark.sql.session.timeZone": "UTC",  # CAST(timestamp AS DATE) on UTC days, as blobtier
        "spark.sql.sources.partitionColumnTypeInference.enabled": "false",  # `date` stays a string
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # not INT96
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.sql.ansi.enabled": "true",  # Spark 4's default; overflow is an error, not a wrap
    }.items():
        spark.conf.set(key, value)

    if sql is None:
        try:
            sql = expanded_sql(a)
        except SystemExit:
            spark.stop()
            raise
    lake = Lake(spark, a.lake)
    lock = lake.lock()
    staging = None
    try:
        snapshot = lake.latest_snapshot(a.as_of)
        if snapshot is None:
            fail(f"no inventory snapshot on or before {a.as_of} in `{a.lake}`: ingest an S3 "
                 "Inventory report first", code=2)
        spark.read.parquet(snapshot[1]).createOrReplaceTempView("inventory")
        for table in ("pulls", "failed_pulls"):
            if lake.glob(a.lake, table, "date=*", "*.parquet"):
                # mergeSchema: part files written before a column was added lack it (NULL).
                df = (spark.read.option("basePath", f"{a.lake}/{table}")
                      .option("mergeSchema", "true").parquet(f"{a.lake}/{table}"))
            else:  # a lake with an inventory but no logs (or no failed pulls) yet
                df = spark.createDataFrame([], EMPTY_DDL[table])
            df.createOrReplaceTempView(table)
        if lake.glob(a.lake, "manifest_pulls", "date=*", "*.parquet"):
            mp = (spark.read.option("basePath", f"{a.lake}/manifest_pulls")
                  .parquet(f"{a.lake}/manifest_pulls"))
        else:
            mp = spark.createDataFrame([], EMPTY_DDL["manifest_pulls"])
        mp.createOrReplaceTempView("manifest_pulls")
        graph = lake.graph_snapshot(a.as_of)
        for table in GRAPH_TABLES:
            if graph is None:
                df = spark.createDataFrame([], EMPTY_DDL[table])
            else:
                df = spark.read.parquet(graph[1][table])
            df.createOrReplaceTempView(table)

        df = as_nullable(spark, spark.sql(sql))

        now = datetime.datetime.now(datetime.timezone.utc)
        run_id = f"spark-stats-{now:%Y%m%dT%H%M%S%fZ}-{os.getpid()}"
        staging = lake.path(a.lake, "_tmp", run_id)
        out = f"{staging.toString()}/out"
        df.coalesce(1).write.mode("errorifexists").parquet(out)  # one file, in ORDER BY order
        parts = lake.glob(out, "part-*.parquet")
        if len(parts) != 1:
            fail(f"expected one part file in `{out}`, found {len(parts)}")
        new = lake.path(staging.toString(), "new")
        lake.fs.mkdirs(new)
        lake.rename(parts[0], lake.path(new.toString(), "part-0.parquet"))
        target = lake.path(a.lake, "digest_stats", f"as_of={a.as_of}")
        lake.fs.mkdirs(target.getParent())
        if lake.fs.exists(target):  # re-running for the same day replaces the partition
            lake.rename(target, lake.path(staging.toString(), "old"))
        lake.rename(new, target)
        lake.fs.delete(staging, True)
        staging = None
        rows = spark.read.parquet(target.toString()).count()
        graph_note = f", image graph {graph[0]}" if graph else ""
        print(f"digest_stats: {target}/part-0.parquet ({rows} rows, inventory snapshot "
              f"{snapshot[0]}{graph_note}, {time.monotonic() - started:.1f} s)")
    finally:
        if staging is not None:
            lake.fs.delete(staging, True)
        lake.fs.delete(lock, False)
        spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
