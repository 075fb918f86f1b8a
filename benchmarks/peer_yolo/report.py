"""The comparison table: our rows (a ``bench_real.py`` results file) beside the peer's, then size and speed.

Per source: point-mAP at the adaptive tolerance over the classes the source labels (GTSDB also the sign
classes' mean and the plates' AP, lights the signal AP), for road markings the share found within 10 px at
the operating threshold, the median point error of matched landmarks, precision / recall and all detections
per frame at the operating threshold (0.5 for both). Then parameters, GMACs, int8 TFLite size and latency.
"""

from __future__ import annotations


def _f(v, fmt: str) -> str:
    return "-" if v is None or v != v else format(v, fmt)  # v != v: NaN


def _pr(row: dict) -> str:
    pr = row.get("precision_recall", {})
    return ", ".join(f"{k} {p:.2f} / {r:.2f}" for k, (p, r) in pr.items()) or "-"


def _class_ap(row: dict, name: str):
    return row.get("per_class_AP_adaptive", {}).get(name)


def source_lines(source: str, ours: dict | None, peer: dict | None) -> list[tuple[str, str, str]]:
    """(metric, ours, peer) rows of one source, from ``bench_real.source_row`` dicts (None: not measured)."""
    o, p = ours or {}, peer or {}

    def pair(label: str, get, fmt: str) -> tuple[str, str, str]:
        return label, _f(get(o), fmt), _f(get(p), fmt)

    rows = [pair("point-mAP (adaptive tolerance)", lambda r: r.get("mAP_adaptive"), ".3f")]
    if source == "gtsdb":
        rows.append(pair("sign point-mAP (bar 0.85)", lambda r: r.get("sign_mAP_adaptive"), ".3f"))
        rows.append(pair("plate (auxiliary) point-AP", lambda r: _class_ap(r, "auxiliary"), ".3f"))
    if source.startswith("markings"):
        rows.append(pair("found within 10 px at 0.5 (bar 80 %)", lambda r: r.get("found_within_10px"), ".1%"))
    if source == "lights":
        rows.append(pair("signal point-AP (bar 0.60)", lambda r: _class_ap(r, "signal"), ".3f"))
    rows.append(pair("median point error px", lambda r: r.get("point_error_median_px"), ".2f"))
    rows.append(("precision / recall at 0.5", _pr(o), _pr(p)))
    rows.append(
        pair("detections per frame at 0.5 (all classes)", lambda r: r.get("detections_per_frame"), ".2f")
    )
    return rows


def speed_lines(speed: dict | None) -> list[tuple[str, str, str]]:
    if not speed:
        return []
    o, p, size = speed["ours"], speed["peer"], speed["input"]
    rows = [
        ("parameters", f"{o['parameters']:,}", f"{p['parameters']:,}"),
        (f"GMACs at {size}", f"{o['gmacs']:.2f}", f"{p['gmacs']:.2f}"),
        ("int8 TFLite KB", f"{o['int8_kb']:.0f}", f"{p['int8_kb']:.0f}"),
    ]
    for t in (1, 2):
        key = f"ms_{t}t"
        if key in o:
            rows.append((f"int8 latency ms, {t} thread(s), {size}", f"{o[key]:.1f}", f"{p[key]:.1f}"))
    return rows


def comparison_markdown(
    ours: dict, peer: dict, speed: dict | None, ours_name: str, peer_name: str, notes: list[str]
) -> str:
    """The table as markdown: ``ours`` / ``peer`` are {source: row} (``bench_real`` results' ``sources``)."""
    lines = [f"| source | metric | {ours_name} | {peer_name} |", "|---|---|---|---|"]
    for source in peer:
        for metric, a, b in source_lines(source, ours.get(source), peer.get(source)):
            lines.append(f"| {source} | {metric} | {a} | {b} |")
    for metric, a, b in speed_lines(speed):
        lines.append(f"| model | {metric} | {a} | {b} |")
    return "\n".join(lines + [""] + notes) + "\n"
