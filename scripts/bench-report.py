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
cold = root / "target" / "coldstart.json"
if cold.exists():
    lines += ["", "## Cold start", "",
              "Process start → first poll of the Runtime API (configuration, SDK config and clients included), "
              "release binaries on this x86_64 machine, interleaved runs (`target/release/coldstart 30`).", "",
              "| binary | median | vs bare lambda_runtime |", "|---|---|---|"]
    for r in json.loads(cold.read_text()):
        lines.append(f"| {r['binary']} | {r['median_ms']:.2f} ms | {r['ratio']:.2f}x |")
zips = [(n, root / "target" / "lambda" / n / "bootstrap.zip") for n in
        ["dns-failover", "capacity-scaler", "backup-verifier", "user-throttle", "access-authorizer"]]
if all(z.exists() for _, z in zips):
    lines += ["", "## Package size (arm64 zip, `make package`)", "", "| function | bytes |", "|---|---|"]
    lines += [f"| {n} | {z.stat().st_size:,} |" for n, z in zips]
lines += [
    "",
    "Not measured yet (issue 9): the reaction against direct SDK calls and a Python/boto3 handler,",
    "authorizer p99, peak RSS of a failover run.",
]
(root / "BENCHMARKS.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines[6:]))
