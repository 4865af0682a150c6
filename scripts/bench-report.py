#!/usr/bin/env python3
"""Writes BENCHMARKS.md from criterion's results (medians) and prints a summary."""
import json, os, pathlib, platform, subprocess, datetime

root = pathlib.Path(__file__).resolve().parent.parent
crit = root / "target" / "criterion"
rows = []
for est in sorted(crit.glob("**/new/estimates.json")):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    e = json.loads(est.read_text())
    median_ns = e["median"]["point_estimate"]
    lo, hi = e["median"]["confidence_interval"]["lower_bound"], e["median"]["confidence_interval"]["upper_bound"]
    thr = bench.get("throughput") or {}
    per_sec = ""
    if "Elements" in thr:
        per_sec = f"{thr['Elements'] * 1e9 / median_ns:,.0f} /s"
    rows.append((bench["group_id"], bench.get("function_id") or "", median_ns, lo, hi, per_sec))

def fmt(ns):
    return f"{ns/1e3:.2f} µs" if ns >= 1e3 else f"{ns:.0f} ns"

cpu = ""
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except Exception:
    pass
lines = [
    "# Benchmarks",
    "",
    f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({cpu or platform.processor()}), "
    "shared and noisy: medians with their 95 % confidence interval, from criterion (release profile).",
    "",
    "Commands: `make bench` = `cargo bench -p resilience-core --bench decisions` and "
    "`cargo bench -p access-authorizer --bench warm_path`, then `scripts/bench-report.py`.",
    "",
    "| group | benchmark | median | 95 % CI of the median | throughput |",
    "|---|---|---|---|---|",
]
for g, f, m, lo, hi, t in rows:
    lines.append(f"| {g} | {f} | {fmt(m)} | {fmt(lo)} – {fmt(hi)} | {t} |")
lines += [
    "",
    "Not measured yet (issue 9): cold start against a bare runtime, the reaction against direct SDK",
    "calls and a Python/boto3 handler, arm64 zip sizes, peak RSS.",
]
(root / "BENCHMARKS.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines[6:]))
