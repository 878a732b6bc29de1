"""Test support: one PySpark driver, one JVM, that runs the integration tests' Spark scripts one
after another, so that each Spark parity check pays for its queries and not for starting Java.

    python spark_session.py LOG

Starts a local[2] session with the settings `spark-submit` gets in tests/it/spark.rs, then reads
one JSON request per line on stdin, {"script": PATH, "args": [...]}, runs PATH as `__main__` with
those arguments (as `spark-submit PATH ARGS...` would), and answers one JSON line on stdout:
{"code": exit code, "stdout": ..., "stderr": ...} (what the script printed). The JVM's and
Spark's own output goes to LOG. A script's `spark.stop()` leaves the session running for the
next one. Ends when stdin closes (the test process exited).
"""
import contextlib
import io
import json
import os
import runpy
import sys
import traceback


def main(log_path):
    # Answers go to the real stdout; everything else printed to fds 1 and 2 (the JVM's log, the
    # Python driver's warnings) to LOG.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)

    from pyspark.sql import SparkSession

    (SparkSession.builder.master("local[2]").appName("blobtier-tests")
     .config("spark.ui.enabled", "false")
     .config("spark.sql.shuffle.partitions", "4")
     .config("spark.driver.bindAddress", "127.0.0.1")
     .config("spark.driver.host", "127.0.0.1")
     .getOrCreate())
    # The scripts end with spark.stop(); the session outlives them.
    SparkSession.stop = lambda self: None
    answers.write(json.dumps({"ready": True}) + "\n")

    for line in sys.stdin:
        req = json.loads(line)
        out, err = io.StringIO(), io.StringIO()
        code = 0
        saved_argv = sys.argv
        sys.argv = [req["script"], *req["args"]]
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                runpy.run_path(req["script"], run_name="__main__")
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:  # sys.exit("message"): Python prints it and exits 1
                err.write(f"{e.code}\n")
                code = 1
        except BaseException:  # what an uncaught exception does: the traceback, exit 1
            err.write(traceback.format_exc())
            code = 1
        finally:
            sys.argv = saved_argv
        answers.write(json.dumps({"code": code, "stdout": out.getvalue(),
                                  "stderr": err.getvalue()}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
