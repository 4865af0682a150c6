#!/usr/bin/env python3
"""Writes BENCHMARKS.md from criterion's results (medians) and prints a summary."""
import json, os, pathlib, platform, subprocess, datetime

root = pathlib.Path(__file__).resolve().parent.parent
# Where cargo builds (CARGO_TARGET_DIR, build.target-dir or ./target), asked of cargo.
target = pathlib.Path(json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=root))["target_directory"])
crit = target / "criterion"
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
cold = target / "coldstart.json"
if cold.exists():
    lines += ["", "## Cold start", "",
              "Process start → first poll of the Runtime API (configuration, SDK config and clients included), "
              "release binaries on this x86_64 machine, interleaved runs (`target/release/coldstart 30`).", "",
              "| binary | median | vs bare lambda_runtime |", "|---|---|---|"]
    for r in json.loads(cold.read_text()):
        lines.append(f"| {r['binary']} | {r['median_ms']:.2f} ms | {r['ratio']:.2f}x |")
zips = [(n, target / "lambda" / n / "bootstrap.zip") for n in
        ["dns-failover", "capacity-scaler", "backup-verifier", "user-throttle", "access-authorizer"]]
if all(z.exists() for _, z in zips):
    lines += ["", "## Package size (arm64 zip, `make package`)", "", "| function | bytes |", "|---|---|"]
    lines += [f"| {n} | {z.stat().st_size:,} |" for n, z in zips]
lat = target / "authorizer-latency.json"
if lat.exists():
    lines += ["", "## access-authorizer tail latency (warm, cache hit)", "",
              "20,000 single requests timed one by one after the criterion run (`warm_path` bench).", "",
              "| algorithm | p50 | p99 | max |", "|---|---|---|---|"]
    for r in json.loads(lat.read_text()):
        lines.append(f"| {r['alg']} | {r['p50_us']:.1f} µs | {r['p99_us']:.1f} µs | {r['max_us']:.1f} µs |")
reaction = target / "reaction.json"
if reaction.exists():
    r = json.loads(reaction.read_text())
    x = r["reaction"]
    lines += ["", "## dns-failover reaction on the local emulator", "",
              f"`target/release/reaction {x['runs']}` under `scripts/with-moto.sh`: medians of {x['runs']} interleaved samples, "
              "each on a freshly provisioned platform (data-plane strategy, no capacity resources; 13 AWS calls). "
              "The emulator's own latency dominates every figure; ratios are the point.", "",
              "| measurement | median |", "|---|---|",
              f"| cold: process start → answer of the first event | {x['cold_ms']:.1f} ms |",
              f"| warm: event → answer | {x['warm_ms']:.1f} ms |",
              f"| the same 13 calls made directly in sequence with the SDK (warm connections) | {x['direct_ms']:.1f} ms |",
              f"| overhead of the function over the direct calls (warm) | {x['overhead_pct']:+.1f} % |",
              f"| Python 3 + boto3 handler, same calls, cold (start → answer) | {x.get('python_cold_ms', 0):.1f} ms |",
              f"| Rust function faster, cold start + first event | {x.get('python_ratio', 0):.1f}x |",
              f"| peak RSS of the dns-failover process after a cold failover (VmHWM) | {x['peak_rss_mib']:.1f} MiB |",
              f"| cold, the configuration read from its SSM parameter at init (as deployed) | {x.get('cold_parameter_ms', 0):.1f} ms |",
              f"| init cost of reading the parameter (cold with it − cold with the document inline) | {x.get('parameter_init_ms', 0):+.1f} ms |"]
    b = r["burst"]
    lines += ["", "## AWS API calls per reaction (emulator, counted by the proxy of tests/src/faults.rs)", "",
              "| reaction | calls | by operation |", "|---|---|---|"]
    for row in r["api_calls"]:
        ops = ", ".join(f"{k} ×{v}" for k, v in row["by_operation"].items())
        lines.append(f"| {row['reaction']} | {row['calls']} | {ops} |")
    lines += ["", f"user-throttle burst of {b['events']:,} detector events in one SQS batch: "
              f"{b['items_per_write_call']:.0f} throttle-table items per write call "
              f"({b['writes']['items']} items in {b['writes']['calls']} write calls); "
              f"{b['dynamodb_calls_total']} DynamoDB calls in all (claims and throttle items in transactions of 25, completions in batches of 25). "
              "Transactions of 25 keep every call well inside the SDK's 3 s attempt timeout; with 100 the emulator "
              "took 0.6–3 s per transaction and one run wrote nothing (every record failed), which this "
              "benchmark now reports as a failure."]
lines += ["", "## Notes", "",
          "- Cold start target (≤ 1.5× a bare runtime) is not met: 1.7–1.9×, about 1.5 ms more. "
          "Measured inside the process: logging 35 µs, configuration 70 µs, SDK config 300 µs, "
          "each SDK client 40–90 µs. "
          "Loading the CA bundle from disk cost another 1.8 ms; the functions now trust the five "
          "compiled-in Amazon Trust Services roots instead (4.7 → 2.9–3.4 ms). The rest is kept in "
          "init on purpose: Lambda runs init with burst CPU, so building clients lazily would move "
          "the same work into the first event at 128 MB's CPU share.",
          "- The emulator's first publish to a new SNS topic costs ~40 ms; the reaction benchmark "
          "spends it before timing, for the function and the direct calls alike.",
          "- `make test` asserts no time; these figures come only from `make bench`."]
(root / "BENCHMARKS.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines[6:]))
