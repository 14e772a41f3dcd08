#!/usr/bin/env python3
"""Render que's benchmark results (Google Benchmark JSON from scripts/bench.sh)
into PNG charts and a Markdown summary (results.md) with the ratios that
docs/benchmarks.md quotes.

    scripts/plot_bench.py --results build-bench/results/<stamp> --out docs/bench

Method, in short:
  * every repetition is kept; a figure is the median over repetitions;
  * each repetition carries two placement probes (one cache line's round trip
    between the CPUs, measured just before and just after it). The hypervisor
    moves the two vCPUs between placements (here ~60 ns, ~150-190 ns, ~250-350
    ns and ~450 ns round trips were all seen), and results are comparable
    only within one. A repetition is "in placement" when its larger probe is
    within --band (25%) of its section's median probe: the placement the
    section mostly ran in. (--near-ns N instead keeps probes <= N ns.)
  * each repetition also carries cpu_share: the CPU time both sides got over
    twice the wall time. Where both sides spin (every que and thread
    contender) an undisturbed repetition scores ~1; below --min-share (0.9)
    another process took a CPU from it. (Kernel transports sleep in system
    calls, so their share says nothing and is not used.)
  * a repetition is "clean" when in placement and, where it applies, undisturbed.
    Medians use clean repetitions only; where a benchmark had none, all of its
    repetitions are used and the figure is marked with a dagger;
  * ratios are taken between medians of the same run.
"""

import argparse
import glob
import gzip
import json
import math
import os
import shutil
import statistics
import sys
from collections import defaultdict


# Display order and colours: que's flavours first (blues), then the peers.
ORDER = [
    "que_push", "que_try", "que_batch", "que_inplace", "que_push_huge", "que_push_pair",
    "design_lamport", "design_lazy", "design_seqarray", "design_seqslot",
    "que_threads", "que_shm", "que_shm_huge", "que_headless",
    "atomic_queue", "boost_spsc", "moodycamel", "mutex_deque",
    "pipe", "unix_stream", "unix_seqpacket", "boost_mq", "zmq_ipc",
]
COLOURS = {
    "que_push": "#08519c", "que_batch": "#3182bd", "que_inplace": "#6baed6", "que_push_huge": "#9ecae1",
    "que_push_pair": "#c6dbef", "que_try": "#2171b5",
    "design_lamport": "#bdbdbd", "design_lazy": "#969696", "design_seqarray": "#737373", "design_seqslot": "#525252",
    "que_threads": "#08519c", "que_shm": "#3182bd", "que_shm_huge": "#9ecae1", "que_headless": "#08519c",
    "atomic_queue": "#e6550d", "boost_spsc": "#31a354", "moodycamel": "#756bb1", "mutex_deque": "#636363",
    "pipe": "#e6550d", "unix_stream": "#31a354", "unix_seqpacket": "#a1d99b", "boost_mq": "#756bb1",
    "zmq_ipc": "#d6616b",
}
QUE = {"que_push", "que_try", "que_batch", "que_inplace", "que_push_huge", "que_push_pair", "que_threads", "que_shm", "que_shm_huge"}
THREAD_PEERS = ["atomic_queue", "boost_spsc", "moodycamel", "mutex_deque"]
KERNEL = ["pipe", "unix_stream", "unix_seqpacket", "boost_mq", "zmq_ipc"]
RING_ORDER = ["4KiB", "64KiB", "1MiB", "4MiB", "8MiB", "64MiB"]


def order_key(name):
    return ORDER.index(name) if name in ORDER else len(ORDER)


# ------------------------------------------------------------------ loading

def parse_name(name):
    """tp/que_push/8B/64KiB/real_time -> dict of fields."""
    parts = [p for p in name.split("/") if p not in ("real_time", "manual_time") and not p.startswith("repeats:")]
    fam = parts[0]
    out = {"family": fam, "contender": None, "payload": None, "ring": None}
    if fam in ("tp", "proc_tp", "spmc"):
        out.update(contender=parts[1], payload=int(parts[2][:-1]), ring=parts[3])
    elif fam in ("rtt", "proc_rtt"):
        out.update(contender=parts[1], payload=int(parts[2][:-1]))
    elif fam == "limit_memcpy":
        out.update(contender="memcpy", payload=int(parts[1][:-1]), ring=parts[2])
    elif fam == "limit_pingpong":
        out.update(contender="pingpong")
    else:
        return None
    return out


def section_files(results_dir):
    """{section: path} for every benchmark JSON: <section>.json, or the
    compressed copy <section>.json.gz kept in docs/bench/raw."""
    found = {}
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json*"))):
        name = os.path.basename(path)
        if name.endswith(".json.gz"):
            section = name[:-len(".json.gz")]
        elif name.endswith(".json"):
            section = name[:-len(".json")]
        else:
            continue
        if section != "meta" and not section.endswith(".meta") and section not in found:
            found[section] = path
    return found


def load(results_dir):
    runs, errors, contexts = [], [], {}
    for section, path in section_files(results_dir).items():
        try:
            with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
                data = json.load(f)
        except ValueError as e:  # a section that was interrupted leaves a truncated file
            print(f"plot_bench.py: skipping {path}: {e}", file=sys.stderr)
            continue
        contexts[section] = data.get("context", {})
        for b in data.get("benchmarks", []):
            if b.get("run_type") != "iteration":
                continue
            fields = parse_name(b.get("run_name", b["name"]))
            if fields is None:
                continue
            if b.get("error_occurred"):
                errors.append((b["name"], b.get("error_message", "")))
                continue
            r = dict(fields)
            r["section"] = section
            r["rep"] = b.get("repetition_index", 0)
            for k in ("items_per_second", "bytes_per_second", "median_ns", "p99_ns", "p999_ns",
                      "received_fraction", "consumer_msgs_per_s", "slots", "real_time", "cpu_share"):
                if k in b:
                    r[k] = b[k]
            pb, pa = b.get("probe_before_ns"), b.get("probe_after_ns")
            r["probe"] = max(pb, pa) if pb is not None and pa is not None else None
            runs.append(r)
    meta = {}
    mpath = os.path.join(results_dir, "meta.json")
    if os.path.exists(mpath):
        with open(mpath) as f:
            meta = json.load(f)
    # One <section>.meta.json per section run (bench.sh); runs before that
    # kept them inside meta.json.
    sections = dict(meta.get("sections", {}))
    for path in sorted(glob.glob(os.path.join(results_dir, "*.meta.json"))):
        with open(path) as f:
            m = json.load(f)
        sections[m.get("section", os.path.basename(path)[:-len(".meta.json")])] = m
    meta["sections"] = dict(sorted(sections.items(), key=lambda kv: kv[1].get("started", "")))
    cpath = os.path.join(results_dir, "commands.txt")
    if os.path.exists(cpath):
        with open(cpath) as f:
            meta["commands"] = [line.strip() for line in f if line.strip()]
    # the same error is reported once per repetition
    errors = sorted(set(errors))
    return runs, errors, contexts, meta


def percentile(values, q):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def spinning(r):
    """Both sides busy-wait: cpu_share measures interference."""
    return r["family"] not in ("proc_tp", "proc_rtt") or r["contender"] in QUE


class Table:
    """Medians per benchmark over clean repetitions (or all, flagged)."""

    def __init__(self, runs, band, near_ns, min_share):
        # Each section's placement: the median of its probes; a repetition
        # belongs to it when its probe lies within `band` of that median.
        by_section = defaultdict(list)
        for r in runs:
            if r["probe"] is not None:
                by_section[r["section"]].append(r["probe"])
        self.placement = {sec: statistics.median(v) for sec, v in by_section.items()}
        self.band = band
        self.near_ns = near_ns
        self.min_share = min_share
        groups = defaultdict(list)
        for r in runs:
            key = (r["family"], r["contender"], r["payload"], r["ring"])
            groups[key].append(r)
        self.groups = groups

    def near(self, r):
        if r["probe"] is None:
            return False
        if self.near_ns:
            return r["probe"] <= self.near_ns
        m = self.placement[r["section"]]
        return abs(r["probe"] - m) <= self.band * m

    def undisturbed(self, r):
        return not spinning(r) or r.get("cpu_share", 1.0) >= self.min_share

    def clean(self, r):
        return self.near(r) and self.undisturbed(r)

    def get(self, family, contender, payload=None, ring=None, metric="items_per_second"):
        """(median, all_far, n_used, n_total) or None."""
        rs = [r for r in self.groups.get((family, contender, payload, ring), []) if metric in r]
        if not rs:
            return None
        clean = [r for r in rs if self.clean(r)]
        use = clean if clean else rs
        return statistics.median(r[metric] for r in use), not clean, len(use), len(rs)

    def value(self, *a, **k):
        got = self.get(*a, **k)
        return got[0] if got else None

    def contenders(self, family):
        return sorted({k[1] for k in self.groups if k[0] == family}, key=order_key)

    def payloads(self, family):
        return sorted({k[2] for k in self.groups if k[0] == family and k[2] is not None})

    def rings(self, family):
        rings = {k[3] for k in self.groups if k[0] == family and k[3] is not None}
        return sorted(rings, key=lambda r: RING_ORDER.index(r) if r in RING_ORDER else 99)


# ------------------------------------------------------------------ formatting

def fmt_rate(v):
    if v is None:
        return "–"
    if v >= 1e9:
        return f"{v / 1e9:.2f} G"
    if v >= 1e6:
        return f"{v / 1e6:.1f} M" if v < 1e8 else f"{v / 1e6:.0f} M"
    if v >= 1e3:
        return f"{v / 1e3:.0f} k"
    return f"{v:.0f}"


def fmt_ns(v):
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} ms"
    if v >= 1e4:
        return f"{v / 1e3:.1f} µs"
    return f"{v:.0f} ns"


def fmt_ratio(v):
    return "–" if v is None else f"{v:.2f}×"


def cell(t, family, contender, payload=None, ring=None, metric="items_per_second", fmt=fmt_rate):
    got = t.get(family, contender, payload, ring, metric)
    if not got:
        return "–"
    return fmt(got[0]) + (" †" if got[1] else "")


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# ------------------------------------------------------------------ charts

def charts(t, runs, out_dir, title_suffix):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(fig, name):
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(name)

    def grouped_bars(ax, family, groups, contenders, metric, ring=None, scale=1.0):
        width = 0.8 / max(1, len(contenders))
        for i, c in enumerate(contenders):
            xs, ys = [], []
            for gi, g in enumerate(groups):
                v = t.value(family, c, g, ring, metric)
                if v is not None:
                    xs.append(gi - 0.4 + width * (i + 0.5))
                    ys.append(v * scale)
            ax.bar(xs, ys, width, label=c, color=COLOURS.get(c))
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{g} B" for g in groups])

    # 1. threads throughput by payload at 64 KiB, with the memcpy limit
    if t.contenders("tp"):
        ring = "64KiB" if "64KiB" in t.rings("tp") else t.rings("tp")[0]
        payloads = t.payloads("tp")
        fig, ax = plt.subplots(figsize=(11, 5))
        grouped_bars(ax, "tp", payloads, t.contenders("tp"), "items_per_second", ring, 1e-6)
        for gi, p in enumerate(payloads):
            lim = t.value("limit_memcpy", "memcpy", p, ring)
            if lim:
                ax.hlines(lim * 1e-6, gi - 0.45, gi + 0.45, colors="black", linestyles="dashed",
                          label="one-core memcpy bound" if gi == 0 else None)
        ax.set_yscale("log")
        ax.set_ylabel("million messages / s (log)")
        ax.set_title(f"Threads throughput, ring of {ring} of payload, CPU 0 → CPU 1{title_suffix}")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.grid(axis="y", which="both", alpha=0.3)
        save(fig, "threads_throughput.png")

        # 2. throughput against ring size, one panel per payload
        rings = t.rings("tp")
        fig, axes = plt.subplots(1, len(payloads), figsize=(4 * len(payloads), 4), squeeze=False)
        for ax, p in zip(axes[0], payloads):
            for c in t.contenders("tp"):
                ys = [t.value("tp", c, p, r) for r in rings]
                pts = [(i, y * 1e-6) for i, y in enumerate(ys) if y is not None]
                if pts:
                    ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=c, color=COLOURS.get(c))
            lim = [t.value("limit_memcpy", "memcpy", p, r) for r in rings]
            pts = [(i, y * 1e-6) for i, y in enumerate(lim) if y is not None]
            if pts:
                ax.plot([x for x, _ in pts], [y for _, y in pts], "k--", label="memcpy bound")
            ax.set_xticks(range(len(rings)))
            ax.set_xticklabels(rings)
            ax.set_yscale("log")
            ax.set_title(f"{p} B")
            ax.grid(which="both", alpha=0.3)
        axes[0][0].set_ylabel("million messages / s (log)")
        # One legend for every panel's lines (the candidate designs only run
        # at some payloads, so the last panel alone would miss them).
        seen = {}
        for ax in axes[0]:
            for h, l in zip(*ax.get_legend_handles_labels()):
                seen.setdefault(l, h)
        axes[0][-1].legend(seen.values(), seen.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
        fig.suptitle(f"Threads throughput against ring size (bytes of payload){title_suffix}")
        save(fig, "threads_throughput_by_ring.png")

    # 3. round trips: median bars, p99 and p99.9 markers, the ping-pong limit
    def latency_chart(family, name, title):
        cs = t.contenders(family)
        if not cs:
            return
        payloads = t.payloads(family)
        fig, ax = plt.subplots(figsize=(10, 5))
        width = 0.8 / len(cs)
        for i, c in enumerate(cs):
            for gi, p in enumerate(payloads):
                x = gi - 0.4 + width * (i + 0.5)
                med = t.value(family, c, p, None, "median_ns")
                if med is None:
                    continue
                ax.bar(x, med, width, color=COLOURS.get(c), label=c)
                p99 = t.value(family, c, p, None, "p99_ns")
                p999 = t.value(family, c, p, None, "p999_ns")
                if p99:
                    ax.plot(x, p99, "k_", markersize=8)
                if p999:
                    ax.plot(x, p999, "kx", markersize=5)
        pp = t.value("limit_pingpong", "pingpong", None, None, "median_ns")
        if pp:
            ax.axhline(pp, color="black", linestyle="dashed", label=f"one cache line's round trip ({pp:.0f} ns)")
        ax.set_xticks(range(len(payloads)))
        ax.set_xticklabels([f"{p} B" for p in payloads])
        ax.set_yscale("log")
        ax.set_ylabel("round trip, ns (log): bar median, – p99, × p99.9")
        ax.set_title(title + title_suffix)
        handles, labels = ax.get_legend_handles_labels()
        seen = {}
        for h, l in zip(handles, labels):
            seen.setdefault(l, h)
        ax.legend(seen.values(), seen.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.grid(axis="y", which="both", alpha=0.3)
        save(fig, name)

    latency_chart("rtt", "threads_round_trip.png", "Threads round trip (ping-pong over two channels)")
    latency_chart("proc_rtt", "processes_round_trip.png", "Processes round trip (ping-pong over two channels)")

    # 4. processes throughput
    if t.contenders("proc_tp"):
        ring = t.rings("proc_tp")[0]
        payloads = t.payloads("proc_tp")
        fig, ax = plt.subplots(figsize=(11, 5))
        grouped_bars(ax, "proc_tp", payloads, t.contenders("proc_tp"), "items_per_second", ring, 1e-6)
        ax.set_yscale("log")
        ax.set_ylabel("million messages / s (log)")
        ax.set_title(f"Processes throughput (fork, CPU 0 → CPU 1), {ring} of payload buffered{title_suffix}")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.grid(axis="y", which="both", alpha=0.3)
        save(fig, "processes_throughput.png")

    # 5. headless ring
    if t.contenders("spmc"):
        rings = t.rings("spmc")
        payloads = t.payloads("spmc")
        labels, prod, cons, frac = [], [], [], []
        for p in payloads:
            for r in rings:
                a = t.value("spmc", "que_headless", p, r)
                b = t.value("spmc", "que_headless", p, r, "consumer_msgs_per_s")
                f = t.value("spmc", "que_headless", p, r, "received_fraction")
                if a is None:
                    continue
                labels.append(f"{p} B\n{r}")
                prod.append(a * 1e-6)
                cons.append((b or 0) * 1e-6)
                frac.append(f or 0)
        fig, ax = plt.subplots(figsize=(8, 4.5))
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], prod, 0.4, label="producer pushes", color="#08519c")
        ax.bar([x + 0.2 for x in xs], cons, 0.4, label="one consumer receives", color="#9ecae1")
        for x, c, f in zip(xs, cons, frac):
            ax.annotate(f"{100 * f:.1f}%", (x + 0.2, c), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels)
        ax.set_yscale("log")
        ax.set_ylabel("million messages / s (log)")
        ax.set_title("Headless ring: producer never waits; consumer share received" + title_suffix)
        ax.legend(fontsize=8)
        ax.grid(axis="y", which="both", alpha=0.3)
        save(fig, "headless.png")

    # 6. placement probes: how noisy the run was
    probes = defaultdict(list)
    for r in runs:
        if r["probe"] is not None:
            probes[r["section"]].append(r["probe"])
    if probes:
        fig, ax = plt.subplots(figsize=(8, 4))
        allp = [p for v in probes.values() for p in v]
        hi = min(max(allp), percentile(allp, 0.99) * 1.5)
        bins = [x for x in range(0, int(hi) + 20, 10)]
        for s, v in probes.items():
            ax.hist([min(p, hi) for p in v], bins=bins, alpha=0.6, label=f"{s} ({len(v)} repetitions)")
        for sec, m in t.placement.items():
            ax.axvspan(m * (1 - t.band), m * (1 + t.band), color="grey", alpha=0.04)
        ax.axvline(statistics.median(allp), color="black", linestyle="dashed",
                   label=f"median probe {statistics.median(allp):.0f} ns (kept: ±{100 * t.band:.0f}% of each section's median)")
        ax.set_xlabel("placement probe: one cache line's round trip CPU 0 ↔ 1, ns (larger of before/after)")
        ax.set_ylabel("repetitions")
        ax.set_title("Placement of the two vCPUs during the run" + title_suffix)
        ax.legend(fontsize=8)
        save(fig, "placement.png")
    return written


# ------------------------------------------------------------------ summary

def summary(t, runs, errors, meta, contexts, pngs):
    L = []
    mode = meta.get("mode", "?")
    L.append("# que benchmark results")
    L.append("")
    commands = meta.get("commands") or [meta.get("command", "scripts/bench.sh")]
    L.append(f"Generated by scripts/plot_bench.py from the run `{meta.get('stamp', '?')}` "
             f"({mode} mode, {meta.get('repetitions', '?')} repetitions per benchmark, minimum time "
             f"{meta.get('min_time', '?')} s per repetition, git {meta.get('git', '?')}, "
             f"headers {meta.get('que_headers_sha256', '?')}). "
             + ("Command: " if len(commands) == 1 else "Commands (the run was resumed): ")
             + "; ".join(f"`{c}`" for c in commands) + ".")
    L.append("")
    placement = ("probe ≤ {:.0f} ns".format(t.near_ns) if t.near_ns else
                 f"larger placement probe within ±{100 * t.band:.0f}% of its section's median probe")
    L.append(f"Figures are medians over the *clean* repetitions: taken in the section's usual vCPU placement "
             f"({placement}) and, where both sides spin, undisturbed (cpu_share ≥ {t.min_share}); "
             "† marks a benchmark that had no clean repetition (median of all of them). "
             "Rates are messages per second (M = 10⁶, G = 10⁹).")
    L.append("")

    # ---- noise
    L.append("## How noisy the run was")
    L.append("")
    rows = []
    order = list(meta.get("sections", {})) + sorted({r["section"] for r in runs})
    for s in dict.fromkeys(order):
        rs = [r for r in runs if r["section"] == s and r["probe"] is not None]
        if not rs:
            continue
        ps = [r["probe"] for r in rs]
        near = sum(1 for r in rs if t.near(r))
        clean = sum(1 for r in rs if t.clean(r))
        shares = [r["cpu_share"] for r in rs if spinning(r) and "cpu_share" in r]
        m = meta.get("sections", {}).get(s, {})
        rows.append([s, len(rs), f"{near} ({100 * near / len(rs):.0f}%)", f"{clean} ({100 * clean / len(rs):.0f}%)",
                     f"{percentile(ps, 0.0):.0f} / {percentile(ps, 0.1):.0f} / {percentile(ps, 0.5):.0f} / {percentile(ps, 0.9):.0f} / {percentile(ps, 1.0):.0f}",
                     f"{percentile(shares, 0.1):.2f} / {percentile(shares, 0.5):.2f}" if shares else "–",
                     m.get("other_cpus", "?"), m.get("steal_cpus", "?"), m.get("nice", meta.get("nice", 0)),
                     m.get("loadavg_before", "?") + " → " + m.get("loadavg_after", "?"), m.get("seconds", "?"),
                     m.get("busy_processes_after", "") or "none"])
    L.append(md_table(["section", "repetitions", "in placement", "clean", "probe min / p10 / p50 / p90 / max (ns)", "cpu_share p10 / p50",
                       "CPUs used by other processes", "steal (CPUs)", "nice", "load average", "seconds",
                       "busiest other processes at the end"], rows))
    L.append("")
    L.append("*CPUs used by other processes*: system-wide busy time during the section minus que_bench's own, "
             "over the section's wall time (0 = the machine was ours; each of the 2 vCPUs counts 1).")
    L.append("")
    if errors:
        L.append("Skipped benchmarks (error reported by the benchmark):")
        L.append("")
        for name, msg in errors:
            L.append(f"- `{name}`: {msg}")
        L.append("")

    # ---- targets
    L.append("## Where que stands against its targets")
    L.append("")
    rows = []
    pp = t.value("limit_pingpong", "pingpong", None, None, "median_ns")
    # Between processes the reference is the same run's own placement probes
    # (a 2000-trip cache-line ping-pong around every repetition of the
    # process round trips), so the ratio does not mix two sections.
    proc_probes = [r["probe"] for r in runs if r["family"] == "proc_rtt" and r["probe"] is not None and t.clean(r)]
    pp_proc = statistics.median(proc_probes) if proc_probes else pp
    for ring in t.rings("tp"):
        best_peer, best_name = None, None
        for c in THREAD_PEERS:
            v = t.value("tp", c, 8, ring)
            if v is not None and (best_peer is None or v > best_peer):
                best_peer, best_name = v, c
        for c in ("que_push", "que_batch", "que_inplace"):
            v = t.value("tp", c, 8, ring)
            if v is None or best_peer is None:
                continue
            r = ratio(v, best_peer)
            rows.append([f"8 B threads throughput, ring {ring}: {c} / best peer ({best_name})", "≥ 1.10×",
                         f"{fmt_rate(v)} / {fmt_rate(best_peer)} = {fmt_ratio(r)}", "met" if r >= 1.1 else "**not met**"])
    for ring in t.rings("tp"):
        lim = t.value("limit_memcpy", "memcpy", 1264, ring)
        peers = {c: t.value("tp", c, 1264, ring) for c in THREAD_PEERS}
        peers = {c: v for c, v in peers.items() if v is not None}
        for c in ("que_push", "que_batch", "que_inplace"):
            v = t.value("tp", c, 1264, ring)
            if v is None:
                continue
            if lim:
                r = ratio(v, lim)
                rows.append([f"1264 B threads throughput, ring {ring}: {c} / one-core memcpy", "≥ 0.90×",
                             f"{fmt_rate(v)} / {fmt_rate(lim)} = {fmt_ratio(r)}", "met" if r >= 0.9 else "**not met**"])
            if peers:
                bn = max(peers, key=peers.get)
                r = ratio(v, peers[bn])
                rows.append([f"1264 B threads throughput, ring {ring}: {c} / best peer ({bn})", "> 1×",
                             f"{fmt_rate(v)} / {fmt_rate(peers[bn])} = {fmt_ratio(r)}", "met" if r > 1 else "**not met**"])
    for p in t.payloads("rtt"):
        v = t.value("rtt", "que_push", p, None, "median_ns")
        if v is not None and pp:
            r = ratio(v, pp)
            rows.append([f"{p} B threads round trip (median): que / one cache line's round trip", "≤ 1.10×",
                         f"{fmt_ns(v)} / {fmt_ns(pp)} = {fmt_ratio(r)}", "met" if r <= 1.1 else "**not met**"])
    for p in t.payloads("proc_tp"):
        ring = t.rings("proc_tp")[0]
        shm = t.value("proc_tp", "que_shm", p, ring)
        thr = t.value("proc_tp", "que_threads", p, ring)
        if shm is not None and thr is not None:
            r = ratio(shm, thr)
            rows.append([f"{p} B throughput: que over shm / que between threads", "≥ 0.95×",
                         f"{fmt_rate(shm)} / {fmt_rate(thr)} = {fmt_ratio(r)}", "met" if r >= 0.95 else "**not met**"])
        kern = {c: t.value("proc_tp", c, p, ring) for c in KERNEL}
        kern = {c: v for c, v in kern.items() if v is not None}
        if shm is not None and kern:
            bn = max(kern, key=kern.get)
            r = ratio(shm, kern[bn])
            rows.append([f"{p} B throughput: que over shm / fastest kernel mechanism ({bn})", "≥ 20×",
                         f"{fmt_rate(shm)} / {fmt_rate(kern[bn])} = {fmt_ratio(r)}", "met" if r >= 20 else "**not met**"])
    for p in t.payloads("proc_rtt"):
        shm = t.value("proc_rtt", "que_shm", p, None, "median_ns")
        kern = {c: t.value("proc_rtt", c, p, None, "median_ns") for c in KERNEL}
        kern = {c: v for c, v in kern.items() if v is not None}
        if shm is not None and kern:
            bn = min(kern, key=kern.get)
            r = ratio(kern[bn], shm)
            rows.append([f"{p} B round trip: fastest kernel mechanism ({bn}) / que over shm", "≥ 20×",
                         f"{fmt_ns(kern[bn])} / {fmt_ns(shm)} = {fmt_ratio(r)}", "met" if r >= 20 else "**not met**"])
        if shm is not None and pp_proc:
            r = ratio(shm, pp_proc)
            rows.append([f"{p} B round trip between processes: que over shm / one cache line's round trip (probes)", "≤ 1.10×",
                         f"{fmt_ns(shm)} / {fmt_ns(pp_proc)} = {fmt_ratio(r)}", "met" if r <= 1.1 else "**not met**"])
    L.append(md_table(["measure", "target", "measured", ""], rows))
    L.append("")

    # ---- threads throughput
    if t.contenders("tp"):
        L.append("## Threads throughput (messages/s)")
        L.append("")
        L.append("Producer on CPU 0, consumer on CPU 1; columns are ring sizes in bytes of payload. "
                 "The rows in italics give que's flavours as a fraction of the fastest peer at that point "
                 "(named) and of one core's copy of the same messages into a buffer of the ring's size.")
        L.append("")
        for p in t.payloads("tp"):
            L.append(f"### {p}-byte messages")
            L.append("")
            rings = t.rings("tp")
            rows = []
            lims = {r: t.value("limit_memcpy", "memcpy", p, r) for r in rings}
            best = {}
            for r in rings:
                vals = {c: t.value("tp", c, p, r) for c in THREAD_PEERS}
                vals = {c: v for c, v in vals.items() if v is not None}
                best[r] = (max(vals.values()), max(vals, key=vals.get)) if vals else (None, None)
            for c in t.contenders("tp"):
                if all(t.value("tp", c, p, r) is None for r in rings):
                    continue  # a contender measured at other payloads only
                rows.append([c] + [cell(t, "tp", c, p, r) for r in rings])
            rows.append(["*one-core memcpy*"] + [cell(t, "limit_memcpy", "memcpy", p, r) for r in rings])
            for c in ("que_push", "que_batch", "que_inplace", "que_push_huge", "que_push_pair"):
                if t.value("tp", c, p, rings[0]) is None and all(t.value("tp", c, p, r) is None for r in rings):
                    continue
                rows.append([f"*{c} ÷ best peer*"] + [
                    (fmt_ratio(ratio(t.value("tp", c, p, r), best[r][0])) + f" ({best[r][1]})") if best[r][0] else "–"
                    for r in rings])
            for c in ("que_push", "que_batch", "que_inplace", "que_push_huge", "que_push_pair"):
                if all(t.value("tp", c, p, r) is None for r in rings):
                    continue
                rows.append([f"*{c} ÷ memcpy*"] + [fmt_ratio(ratio(t.value("tp", c, p, r), lims[r])) for r in rings])
            L.append(md_table(["contender"] + rings, rows))
            L.append("")
        slots = []
        for c in ("atomic_queue",):
            for p in t.payloads("tp"):
                for r in t.rings("tp"):
                    got = [x.get("slots") for x in runs if x["family"] == "tp" and x["contender"] == c and x["payload"] == p and x["ring"] == r]
                    mine = [x.get("slots") for x in runs if x["family"] == "tp" and x["contender"] == "que_push" and x["payload"] == p and x["ring"] == r]
                    if got and mine and got[0] != mine[0]:
                        slots.append(f"{p} B/{r}: {int(got[0])} slots (que: {int(mine[0])})")
        if slots:
            L.append("atomic_queue rounds its capacity up (AtomicQueueB2 to at least 4096 slots): " + "; ".join(slots) + ".")
            L.append("")

    # ---- latency
    def latency_table(family, title, ref):
        if not t.contenders(family):
            return
        L.append(f"## {title}")
        L.append("")
        payloads = t.payloads(family)
        header = ["contender"] + [f"{p} B: median / p99 / p99.9" for p in payloads] + [f"{p} B median ÷ line round trip" for p in payloads]
        rows = []
        for c in t.contenders(family):
            row = [c]
            for p in payloads:
                row.append(" / ".join(cell(t, family, c, p, None, m, fmt_ns) for m in ("median_ns", "p99_ns", "p999_ns")))
            row += [fmt_ratio(ratio(t.value(family, c, p, None, "median_ns"), ref)) for p in payloads]
            rows.append(row)
        if family == "rtt" and pp:
            lim = " / ".join(cell(t, "limit_pingpong", "pingpong", None, None, m, fmt_ns) for m in ("median_ns", "p99_ns", "p999_ns"))
            rows.append(["*one cache line's round trip*"] + [lim] * len(payloads) + [""] * len(payloads))
        elif ref:
            rows.append(["*one cache line's round trip (median of this section's probes)*"]
                        + [fmt_ns(ref)] * len(payloads) + [""] * len(payloads))
        L.append(md_table(header, rows))
        L.append("")

    latency_table("rtt", "Threads round trip (ping-pong over two channels)", pp)

    # ---- processes
    if t.contenders("proc_tp"):
        ring = t.rings("proc_tp")[0]
        L.append(f"## Processes throughput (messages/s, {ring} of payload buffered)")
        L.append("")
        payloads = t.payloads("proc_tp")
        rows = []
        for c in t.contenders("proc_tp"):
            rows.append([c] + [cell(t, "proc_tp", c, p, ring) for p in payloads])
        shm = {p: t.value("proc_tp", "que_shm", p, ring) for p in payloads}
        rows.append(["*que_shm ÷ que_threads*"] + [fmt_ratio(ratio(shm[p], t.value("proc_tp", "que_threads", p, ring))) for p in payloads])
        for c in KERNEL:
            if c in t.contenders("proc_tp"):
                rows.append([f"*que_shm ÷ {c}*"] + [fmt_ratio(ratio(shm[p], t.value("proc_tp", c, p, ring))) for p in payloads])
        L.append(md_table(["contender"] + [f"{p} B" for p in payloads], rows))
        L.append("")
    latency_table("proc_rtt", "Processes round trip (ping-pong over two channels)", pp_proc)

    # ---- spmc
    if t.contenders("spmc"):
        L.append("## Headless ring (que::spmc): producer rate and what one consumer receives")
        L.append("")
        rows = []
        for p in t.payloads("spmc"):
            for r in t.rings("spmc"):
                a = t.value("spmc", "que_headless", p, r)
                if a is None:
                    continue
                rows.append([f"{p} B", r, cell(t, "spmc", "que_headless", p, r),
                             cell(t, "spmc", "que_headless", p, r, "consumer_msgs_per_s"),
                             cell(t, "spmc", "que_headless", p, r, "received_fraction", lambda v: f"{100 * v:.1f}%")])
        L.append(md_table(["payload", "ring", "producer pushes/s", "consumer receives/s", "fraction received"], rows))
        L.append("")

    if pngs:
        L.append("## Charts")
        L.append("")
        for png in pngs:
            L.append(f"![{png}]({png})")
            L.append("")

    ctx = next(iter(contexts.values()), {})
    if ctx:
        L.append("## Machine (from Google Benchmark's context)")
        L.append("")
        L.append(f"{ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
                 f"caches: " + ", ".join(f"L{c['level']} {c['type']} {c['size'] // 1024} KiB" for c in ctx.get("caches", [])) +
                 f"; library build: {ctx.get('library_build_type', '?')}; features: {ctx.get('que_bench_features', '?')}.")
        L.append("")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True, help="directory with <section>.json and meta.json")
    ap.add_argument("--out", required=True, help="directory for the PNGs and results.md")
    ap.add_argument("--band", type=float, default=0.25,
                    help="keep repetitions whose probe is within this fraction of their section's median probe")
    ap.add_argument("--near-ns", type=float, help="instead keep repetitions whose probe is at most this many ns")
    ap.add_argument("--min-share", type=float, default=0.9, help="cpu_share below this marks a disturbed repetition")
    ap.add_argument("--no-charts", action="store_true")
    args = ap.parse_args()

    runs, errors, contexts, meta = load(args.results)
    if not runs:
        sys.exit(f"plot_bench.py: no results in {args.results}")
    t = Table(runs, args.band, args.near_ns, args.min_share)

    os.makedirs(args.out, exist_ok=True)
    suffix = "" if meta.get("mode") != "quick" else " [quick run]"
    pngs = [] if args.no_charts else charts(t, runs, args.out, suffix)
    text = summary(t, runs, errors, meta, contexts, pngs)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    # keep the raw data beside the charts (compressed) so they can be re-rendered:
    #   plot_bench.py --results docs/bench/raw --out docs/bench
    raw = os.path.join(args.out, "raw")
    if os.path.abspath(raw) != os.path.abspath(args.results):
        os.makedirs(raw, exist_ok=True)
        for old in glob.glob(os.path.join(raw, "*.json*")) + glob.glob(os.path.join(raw, "commands.txt")):
            os.remove(old)
        for path in glob.glob(os.path.join(args.results, "commands.txt")):
            shutil.copy(path, raw)
        for path in glob.glob(os.path.join(args.results, "*.json")):
            if path.endswith("meta.json"):
                shutil.copy(path, raw)
                continue
            with open(path, "rb") as src, gzip.open(os.path.join(raw, os.path.basename(path) + ".gz"), "wb") as dst:
                shutil.copyfileobj(src, dst)
    print(f"plot_bench.py: wrote {len(pngs)} charts and results.md to {args.out}")


if __name__ == "__main__":
    main()
