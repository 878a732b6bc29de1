"""Expands blobtier's portable query templates (queries/*.sql) for an engine.

The same rules as src/stats/template.rs (keep the two in step; tests compare them):
  ${name}                    a parameter
  -- @each window ... -- @end  the enclosed lines once per window, {N} -> N
  {{days_between(a, b)}}     whole days from date a to date b (the one dialect difference)
Full-line comments are dropped.
"""
import datetime
import re

DIALECTS = {
    "polars": lambda a, b: f"(CAST(CAST({b} AS DATE) AS INTEGER) - CAST(CAST({a} AS DATE) AS INTEGER))",
    "spark": lambda a, b: f"datediff({b}, {a})",
    "duckdb": lambda a, b: f"datediff('day', {a}, {b})",
    "trino": lambda a, b: f"date_diff('day', {a}, {b})",
}


def params(as_of, windows, include_scanners=False):
    d = datetime.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    p = {"as_of": d.isoformat(), "include_scanners": "TRUE" if include_scanners else "FALSE"}
    for n in list(windows) + [30, 90]:
        p[f"from_{n}"] = (d - datetime.timedelta(days=n)).isoformat()
    p["from_max"] = (d - datetime.timedelta(days=max(list(windows) + [90]))).isoformat()
    return p


def _split_top_comma(s):
    depth = 0
    for i, c in enumerate(s):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            return s[:i].strip(), s[i + 1 :].strip()
    raise ValueError(f"days_between takes two arguments: {s}")


def expand(text, windows, params, dialect):
    out, block = [], None
    for line in text.splitlines():
        t = line.strip()
        if t == "-- @each window":
            if block is not None:
                raise ValueError("nested @each")
            block = []
        elif t == "-- @end":
            if block is None:
                raise ValueError("@end without @each")
            for n in windows:
                out.extend(l.replace("{N}", str(n)) for l in block)
            block = None
        elif t.startswith("--"):
            continue
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise ValueError("@each without @end")
    s = "\n".join(out) + "\n"

    def param(m):
        name = m.group(1)
        if name not in params:
            raise KeyError(f"unknown parameter ${{{name}}}")
        return params[name]

    s = re.sub(r"\$\{([^}]*)\}", param, s)

    def macro(m):
        call = m.group(1).strip()
        if not (call.startswith("days_between(") and call.endswith(")")):
            raise ValueError(f"unknown macro {call}")
        a, b = _split_top_comma(call[len("days_between(") : -1])
        return DIALECTS[dialect](a, b)

    s = re.sub(r"\{\{(.*?)\}\}", macro, s)
    if dialect == "trino":
        # Trino/Athena quote identifiers with double quotes only; the queries use backticks
        # for identifiers and never double quotes.
        s = s.replace("`", '"')
    return s


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 6 or sys.argv[1] != "expand":
        sys.exit("usage: sqltemplate.py expand FILE AS_OF WINDOWS(7,30,90) DIALECT")
    _, _, path, as_of, wins, dialect = sys.argv
    windows = [int(w) for w in wins.split(",")]
    sys.stdout.write(expand(open(path).read(), windows, params(as_of, windows), dialect))
