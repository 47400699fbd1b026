"""One markdown table from the metrics.json files that test.py writes, e.g. whole-face vs partitioned.

    python tools/compare_runs.py saved/models/wrinkle_quick/<id>/test-test/metrics.json \\
        saved/models/wrinkle_partitioned/<id>/test-test/metrics.json --labels whole-face partitioned

A row per file, a column per metric (the union, in first-seen order; `--metrics f1 iou` to choose);
a metric a run lacks shows as "-". The label defaults to the checkpoint's run folder and file.
"""
import argparse
import json
import sys
from pathlib import Path


def load(path):
    path = Path(path)
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"error: {path} not found (test.py writes <checkpoint dir>/test-<split>/metrics.json)")
    except json.JSONDecodeError as e:
        raise SystemExit(f"error: {path} is not valid JSON: {e}")
    if not isinstance(report, dict) or not isinstance(report.get("metrics"), dict):
        raise SystemExit(f"error: {path} has no 'metrics' mapping; is it a metrics.json written by test.py?")
    return report


def default_label(report, path):
    checkpoint = Path(report.get("checkpoint") or Path(path).parent)
    return "/".join(checkpoint.parts[-3:])


def table(reports, labels, metrics=None, digits=4):
    """Markdown table text: run, split, samples, then the metrics."""
    if metrics is None:
        metrics = list(dict.fromkeys(k for r in reports for k in r["metrics"]))
    header = ["run", "split", "samples", *metrics]
    rows = []
    for report, label in zip(reports, labels):
        values = [report["metrics"].get(m) for m in metrics]
        cells = ["-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in values]
        rows.append([label, str(report.get("split", "-")), str(report.get("samples", "-")), *cells])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * len(metrics)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description="Compare test.py runs: one markdown table of their metrics.json.")
    p.add_argument("files", nargs="+", help="metrics.json files written by test.py")
    p.add_argument("--labels", nargs="+", help="one name per file (default: run folder / checkpoint)")
    p.add_argument("--metrics", nargs="+", help="columns to show (default: every metric, in order)")
    p.add_argument("--digits", type=int, default=4, help="decimals")
    args = p.parse_args(argv)
    if args.labels and len(args.labels) != len(args.files):
        p.error(f"--labels: {len(args.labels)} labels for {len(args.files)} files")
    reports = [load(f) for f in args.files]
    labels = args.labels or [default_label(r, f) for r, f in zip(reports, args.files)]
    print(table(reports, labels, args.metrics, args.digits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
