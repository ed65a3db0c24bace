"""Turn a run's results into JSON, a Markdown page and a PNG chart.

Contract: ``write(results, out, repo)`` writes latest.json, performance.md
and perf-chart.png either into ``out`` or, when ``out`` is None, to
benchmarks/results/latest.json, docs/performance.md and docs/perf-chart.png
under ``repo``; it returns the three paths.  It adds to ``results`` the
derived figures: per cell ``floor_x`` (CPU ms per request over the Pillow
floor's CPU ms per image) and ``ratios`` (edge over each peer, valid cells
only).  The page it replaces keeps its hand-written end (from the
HAND_WRITTEN marker on: profiles, one-off measurements).  The chart is
drawn with Pillow alone so it needs no extra package.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PEERS = ("thumbor", "ipx")
COLOURS = {"edge": (46, 125, 50), "thumbor": (30, 90, 160), "ipx": (200, 110, 20)}
LABELS = {"edge": "edge", "thumbor": "thumbor", "ipx": "IPX"}


def _cells(results: dict) -> dict[tuple[str, str], dict]:
    return {(c["workload"], c["server"]): c for c in results["cells"]}


def _usable(cell: dict | None) -> bool:
    return bool(cell) and "skipped" not in cell and cell.get("valid") and cell.get("requests", 0) > 0


def derive(results: dict) -> None:
    """Add floor_x to measured cells and edge-over-peer ratios to results."""
    floors = results.get("floor", {})
    by = _cells(results)
    for w in results["workloads"]:
        floor = floors.get(w["floor"] or "", {}).get("cpu_ms")
        for server in results["settings"]["servers"]:
            cell = by.get((w["id"], server))
            if _usable(cell) and floor and cell.get("cpu_ms_per_req"):
                cell["floor_x"] = round(cell["cpu_ms_per_req"] / floor, 2)
    ratios = {}
    for w in results["workloads"]:
        ours = by.get((w["id"], "edge"))
        for peer in PEERS:
            theirs = by.get((w["id"], peer))
            if _usable(ours) and _usable(theirs):
                ratios.setdefault(w["id"], {})[peer] = {
                    "rps": round(ours["rps"] / theirs["rps"], 2),
                    "cpu_per_req": round(ours["cpu_ms_per_req"] / theirs["cpu_ms_per_req"], 2),
                    "p99": round(ours["p99_ms"] / theirs["p99_ms"], 2),
                }
    results["ratios"] = ratios


def _fmt(v, digits=1) -> str:
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def markdown_table(results: dict) -> str:
    """The per-workload, per-server table."""
    by = _cells(results)
    rows = ["| Workload | Server | req/s | p50 ms | p99 ms | CPU ms/req | × floor | peak RSS MiB "
            "| peak PSS MiB | out KiB | non-2xx | answer check |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for w in results["workloads"]:
        for server in results["settings"]["servers"]:
            c = by.get((w["id"], server))
            if c is None:
                continue
            if "skipped" in c:
                dashes = " – |" * 9
                rows.append(f"| {w['id']} | {LABELS[server]} |{dashes} skipped: {c['skipped']} |")
                continue
            verdict = "ok" if c["valid"] else f"**INVALID** ({c['error_count']} bad)"
            if c["valid"] and c["warnings"]:
                verdict += " (warning)"
            bad = c["non2xx"] + sum(c["socket_errors"].values())
            rows.append(
                f"| {w['id']} | {LABELS[server]} | {_fmt(c['rps'])} | {_fmt(c['p50_ms'])} | {_fmt(c['p99_ms'])} "
                f"| {_fmt(c['cpu_ms_per_req'])} | {_fmt(c.get('floor_x'), 2)} | {_fmt(c['peak_rss_mib'], 0)} "
                f"| {_fmt(c['peak_pss_mib'], 0)} | {_fmt(c['median_response_bytes'] / 1024)} | {bad} | {verdict} |")
    return "\n".join(rows)


def _versions_line(name: str, info: dict) -> str:
    if "unavailable" in info:
        return f"- **{LABELS[name]}**: not run — {info['unavailable']}"
    v = info.get("versions", {})
    if name == "edge":
        return (f"- **edge** {v.get('edge-origin')} (Python {v.get('python')}, Pillow {v.get('Pillow')}, "
                f"pillow-heif {v.get('pillow-heif')}, aiohttp {v.get('aiohttp')}); `edge serve`, workers = 2, "
                "access log off, rendition cache off except W5 (256 MiB)")
    if name == "thumbor":
        return (f"- **thumbor** {v.get('thumbor')} (Python {v.get('python')}, Pillow {v.get('Pillow')}, "
                f"pillow-heif {v.get('pillow-heif')}, gifsicle {v.get('gifsicle')}): two single-process "
                f"thumbors behind nginx {v.get('nginx')} (least_conn, keep-alive); file loader, no storage, "
                "result storage off except W5 (file result storage)")
    return (f"- **IPX** {v.get('ipx')} (sharp {v.get('sharp')}, libvips {v.get('libvips')}, "
            f"Node {v.get('node')}): one Node process, file storage; sharp renders up to 4 images at once on "
            "libuv's thread pool, one libvips thread each (sharp's default on glibc)")


def _spread(results: dict) -> list[str]:
    """How each server's CPU was split over its processes, per workload."""
    lines = []
    for server in results["settings"]["servers"]:
        parts = []
        for c in results["cells"]:
            if c["server"] != server or not c.get("per_process"):
                continue
            total = sum(ms for _, _, ms in c["per_process"]) or 1
            split = " ".join(f"{comm} {round(100 * ms / total)}%" for comm, _, ms in c["per_process"][:4])
            parts.append(f"{c['workload']}: {split}")
        if parts:
            lines.append(f"- {LABELS[server]}: " + "; ".join(parts))
    return lines


def _example_urls(results: dict) -> list[str]:
    by = _cells(results)
    servers = results["settings"]["servers"]
    rows = ["| Workload | " + " | ".join(LABELS[n] for n in servers) + " |", "|---|" + "---|" * len(servers)]
    for w in results["workloads"]:
        paths = [by.get((w["id"], n), {}).get("example_path") for n in servers]
        rows.append(f"| {w['id']} | " + " | ".join(f"`{p}`" if p else "–" for p in paths) + " |")
    return rows


def _notes(results: dict) -> list[str]:
    """Skips, failed checks, warnings, contention and load spread, as bullets."""
    notes = []
    for c in results["cells"]:
        who = f"{c['workload']} on {LABELS[c['server']]}"
        if "skipped" in c:
            notes.append(f"- {who} not run: {c['skipped']}")
        elif not c["valid"]:
            notes.append(f"- {who} INVALID, {c['error_count']} of {c['urls']} answers failed the check, "
                         f"e.g. `{c['errors'][0]}`")
        if c.get("warnings"):
            notes.append(f"- {who}: " + "; ".join(c["warnings"]))
    background = [c["background_cpu_cores"] for c in results["cells"] if "background_cpu_cores" in c]
    busy = [b for b in background if b >= 0.1]
    again = [f"{c['workload']}/{LABELS[c['server']]}" for c in results["cells"] if c.get("remeasured")]
    if busy:
        notes.append(f"- Other processes on the machine used ≥ 0.1 core during {len(busy)} of {len(background)} "
                     f"cells (up to {max(busy)} cores): those cells read low; `background_cpu_cores` per cell "
                     "in latest.json.")
    if again:
        notes.append("- Measured twice because other processes used ≥ 0.3 core the first time (the less "
                     "disturbed run is shown): " + ", ".join(again) + ".")
    stretched = [f"{c['workload']}/{LABELS[c['server']]} {c['seconds']:g} s" for c in results["cells"]
                 if c.get("seconds", 0) > results["settings"]["seconds"] + 1]
    if stretched:
        notes.append("- Slow cells ran longer than the set time, to finish enough requests (about 12 single-"
                     "request times, at most 20 s, no warm-up beyond the check): " + ", ".join(stretched) + ".")
    notes.append("- CPU split over each server's processes (two workers should share the work about evenly):")
    notes += ["  " + line for line in _spread(results)]
    if "thumbor" in results["servers"]:
        notes.append("- thumbor's own `--processes 2` (tornado fork mode, one shared socket) is not used: wrk "
                     "opens its keep-alive connections in one burst and the first process to wake accepted all "
                     "of them, so one process did all the work (798 vs 0 CPU ticks in a test). Two thumbors "
                     "behind nginx (least_conn) share it, as the split above shows.")
    notes += [
        "- Not timed: the check's first request of each URL and a warm-up run. CPU is read when wrk exits, so "
        "requests still in flight then are partly charged (under 3% at these rates). wrk runs one thread on "
        "the same two cores; its CPU, the harness's and everything else's are recorded per cell in "
        "latest.json (`wrk_cpu_cores`, `harness_cpu_cores`, `background_cpu_cores`).",
        "- Encoder settings the URLs do not fix differ by server (IPX: progressive JPEG, sharp's AVIF effort; "
        "thumbor: progressive JPEG, its `PROGRESSIVE_JPEG` default; edge: optimized baseline JPEG, progressive "
        "only for `interlace,1`), so output sizes differ too: see *out KiB*.",
    ]
    return notes


def markdown(results: dict) -> str:
    m, s = results["machine"], results["settings"]
    background = sorted(c["background_cpu_cores"] for c in results["cells"] if "background_cpu_cores" in c)
    out = [
        "# Performance",
        "",
        f"Generated by `python benchmarks/run.py` on {results['date']} in {results['elapsed_s']} s "
        f"({s['seconds']:g} s measured + {s['warmup']:g} s warm-up per cell). Rerun it rather than edit this page "
        "(the hand-written part at its end is kept).",
        "",
        "## Machine and versions",
        "",
        f"- {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, wrk {m['wrk']}; "
        "load generator and servers share the same two cores, over loopback (127.0.0.1)",
    ]
    out += [_versions_line(n, results["servers"][n]) for n in s["servers"] if n in results["servers"]]
    if background and background[len(background) // 2] >= 0.3:
        out += ["", f"> **Not a quiet machine**: other processes used a median "
                f"{background[len(background) // 2]} of the 2 cores while these figures were taken, so req/s "
                "here are low, and unevenly so between cells; CPU ms per request holds up better. "
                "Rerun on an idle machine for absolute figures."]
    out += ["", "## Workloads", "", "| Id | What | Connections | URLs rotated |", "|---|---|--:|--:|"]
    out += [f"| {w['id']} | {w['title']} | {w['connections']} | {w['urls']} |" for w in results["workloads"]]
    out += ["", "The miss workloads with one source rotate over 8 hard-linked copies of it, so that no two "
            "requests in flight ask for the same URL: a server that coalesces identical concurrent misses "
            "(edge does) would otherwise render once for several requests. W1-same shows that case.",
            "", "First request of each workload, per server:", ""] + _example_urls(results)
    out += ["", "## Results", "", "![req/s per workload](perf-chart.png)", "", markdown_table(results), ""]
    out += [
        "*req/s*, *p50*, *p99*: wrk over the measured seconds. *CPU ms/req*: utime+stime of all the server's "
        "processes and their children (thumbor: both thumbors, nginx and gifsicle) from /proc, before and after, "
        "over requests done. *× floor*: that over the bare Pillow CPU ms for the same image (below); 1.0 would "
        "be a server with no overhead at all. *Peak RSS/PSS*: the largest sum over the server's processes, "
        "RSS sampled every 100 ms, PSS (smaps_rollup) every 500 ms. *out KiB*: median answer size. *non-2xx*: "
        "non-2xx answers plus socket errors. *Answer check*: every URL was fetched once before loading and its "
        "format, size (and GIF frame count and durations, alpha) checked with Pillow.",
        "",
    ]
    if results.get("ratios"):
        out += ["## edge relative to the peers", "",
                "req/s: edge ÷ peer (above 1 = edge serves more). CPU/req and p99: edge ÷ peer "
                "(below 1 = edge cheaper / faster). Only cells whose answers passed the check.", "",
                "| Workload | req/s vs thumbor | req/s vs IPX | CPU/req vs thumbor | CPU/req vs IPX "
                "| p99 vs thumbor | p99 vs IPX |", "|---|--:|--:|--:|--:|--:|--:|"]
        for wid, r in results["ratios"].items():
            g = lambda peer, k: _fmt(r.get(peer, {}).get(k), 2)  # noqa: E731
            out.append(f"| {wid} | {g('thumbor', 'rps')} | {g('ipx', 'rps')} | {g('thumbor', 'cpu_per_req')} "
                       f"| {g('ipx', 'cpu_per_req')} | {g('thumbor', 'p99')} | {g('ipx', 'p99')} |")
        out.append("")
    if results.get("floor"):
        out += ["## Pillow floor (benchmarks/floor.py)", "",
                "One process, bytes in memory, no HTTP: decode (JPEG with `draft()`), LANCZOS resize, encode. "
                "Median per image; the ceiling is what two cores could serve at that CPU cost.", "",
                "| Case | CPU ms | wall ms | 2-core ceiling req/s |", "|---|--:|--:|--:|"]
        for name, f in results["floor"].items():
            out.append(f"| {name} | {_fmt(f['cpu_ms'])} | {_fmt(f['wall_ms'])} | {_fmt(f['ceiling_rps'])} |")
        out += ["", "W1-nodraft decodes the full 4000x3000 first; W4 quantizes frames with FASTOCTREE; W7 is the "
                "mean over its six widths; the HEIC (x265) and AVIF encoders use threads, hence wall < CPU."]
        if (results.get("floor_background_cpu_cores") or 0) >= 0.1:
            out.append(f"Other processes used {results['floor_background_cpu_cores']} cores while the floor was "
                       "timed, which inflates even CPU time (shared caches): × floor may read low.")
        out.append("")
    out += ["## Notes", ""] + _notes(results) + [
        "",
        "## Reproduce",
        "",
        "```sh",
        "pip install -e .                  # provides the `edge` command",
        "python benchmarks/run.py          # all servers, all workloads, ~10 min on 2 cores",
        "python benchmarks/run.py --seconds 5 --only W1,W7 --servers edge,thumbor --out /tmp/bench",
        "```",
        "",
        "It installs thumbor into benchmarks/.venv-thumbor, IPX into benchmarks/.peers, gifsicle and nginx "
        "with apt-get if missing, and caches the corpus in benchmarks/.corpus. See benchmarks/README.md.",
        "",
    ]
    return "\n".join(out)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def chart(results: dict, path: Path) -> None:
    """Small multiples: one panel per workload, one bar per server (req/s),
    a dashed line at the Pillow 2-core ceiling where there is one."""
    servers = results["settings"]["servers"]
    workloads = results["workloads"]
    by = _cells(results)
    cols = 2
    rows = (len(workloads) + cols - 1) // cols
    pw, ph, top = 600, 40 + 34 * len(servers), 70
    img = Image.new("RGB", (pw * cols, top + ph * rows + 10), "white")
    d = ImageDraw.Draw(img)
    title, small, tiny = _font(22), _font(15), _font(13)
    d.text((16, 12), "Requests per second on 2 cores (higher is better)", fill="black", font=title)
    subtitle = f"{results['date']} · dashed line: bare-Pillow 2-core ceiling · hatched: answer check failed"
    background = sorted(c["background_cpu_cores"] for c in results["cells"] if "background_cpu_cores" in c)
    if background and background[len(background) // 2] >= 0.3:
        subtitle += f" · busy machine: others used {background[len(background) // 2]} cores (median)"
    d.text((16, 42), subtitle, fill=(90, 90, 90), font=tiny)
    for i, w in enumerate(workloads):
        x0, y0 = (i % cols) * pw + 16, top + (i // cols) * ph
        d.text((x0, y0), f"{w['id']}: {w['title']}", fill="black", font=small)
        ceiling = results.get("floor", {}).get(w["floor"] or "", {}).get("ceiling_rps")
        values = [by.get((w["id"], s), {}).get("rps") or 0 for s in servers]
        scale_max = max(values + [ceiling or 0]) or 1
        bar_x, bar_w = x0 + 80, pw - 190
        if ceiling:  # drawn first, so bars and their labels sit on top of it
            cx = bar_x + int(bar_w * ceiling / scale_max)
            for yy in range(y0 + 22, y0 + 26 + 34 * len(servers), 6):
                d.line([cx, yy, cx, yy + 3], fill=(200, 0, 0), width=2)
        for j, s in enumerate(servers):
            y = y0 + 26 + 34 * j
            c = by.get((w["id"], s))
            d.text((x0, y + 5), LABELS[s], fill="black", font=small)
            if not c or "skipped" in c:
                reason = "not run" if not c else "not run: " + c["skipped"]
                if len(reason) > 60:
                    reason = reason[:59] + "…"
                d.text((bar_x, y + 5), reason, fill=(120, 120, 120), font=tiny)
                continue
            length = max(2, int(bar_w * c["rps"] / scale_max))
            d.rectangle([bar_x, y, bar_x + length, y + 24], fill=COLOURS[s])
            if not c["valid"]:
                for k in range(bar_x, bar_x + length, 8):
                    d.line([k, y + 24, min(k + 24, bar_x + length), y], fill="white", width=2)
            label = f"{c['rps']:,.1f}" + ("" if c["valid"] else " invalid")
            box = d.textbbox((bar_x + length + 6, y + 5), label, font=small)
            d.rectangle([box[0] - 2, y, box[2] + 2, y + 24], fill="white")
            d.text((bar_x + length + 6, y + 5), label, fill="black", font=small)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)


HAND_WRITTEN = "<!-- Hand-written from here on: report.py keeps it when it rewrites this page. -->"


def _hand_written(md_path: Path) -> str:
    """The hand-written end of the page already at `md_path` (from HAND_WRITTEN on), or ''."""
    try:
        text = md_path.read_text()
    except FileNotFoundError:
        return ""
    at = text.find(HAND_WRITTEN)
    return "\n" + text[at:] if at >= 0 else ""


def write(results: dict, out: Path | None, repo: Path) -> list[Path]:
    derive(results)
    if out is None:
        json_path = repo / "benchmarks" / "results" / "latest.json"
        md_path, png_path = repo / "docs" / "performance.md", repo / "docs" / "perf-chart.png"
    else:
        json_path, md_path, png_path = out / "latest.json", out / "performance.md", out / "perf-chart.png"
    for p in (json_path, md_path, png_path):
        p.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    md_path.write_text(markdown(results) + _hand_written(md_path))
    chart(results, png_path)
    return [json_path, md_path, png_path]
