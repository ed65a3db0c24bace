"""Turn a run of benchmarks/bytes.py into benchmarks/results/bytes.json, two rate-distortion charts
(docs/compression-photos.png, docs/compression-gifs.png) and the Markdown tables between the
markers of docs/compression.md (the rest of that page is written by hand)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- bytes.py: begin -->", "<!-- bytes.py: end -->"
FORMATS = ("heic", "avif", "webp")
TOOL = {"webp": "cwebp", "heic": "heif-enc", "avif": "avifenc"}


def _at_score(curve: list[dict], score: float) -> float:
    """Bytes of a rate-distortion curve interpolated (log bytes) at `score`; extrapolated past its ends."""
    pts = sorted((p["ssimulacra2"], math.log(p["bytes"])) for p in curve)
    (s0, b0), (s1, b1) = (pts[0], pts[1]) if score < pts[1][0] else (pts[-2], pts[-1])
    for lo, hi in zip(pts, pts[1:]):
        if lo[0] <= score <= hi[0]:
            (s0, b0), (s1, b1) = lo, hi
    return math.exp(b0 + (b1 - b0) * (score - s0) / (s1 - s0 or 1e-9))


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def rendition_table(renditions: dict, effort: str = "fast") -> list[str]:
    """The renditions at the default quality with [compression] `effort` (its rows are "<format> small")."""
    column = (lambda f: f) if effort == "fast" else (lambda f: f"{f} {effort}")
    lines = ["| photo (half size) | JPEG q85 | " + " | ".join(
        f"{f.upper()}: bytes, score vs JPEG's, bytes at JPEG's score, vs {TOOL[f]} at equal score"
        for f in FORMATS) + " |",
             "|---|---|" + "---|" * len(FORMATS)]
    summary = {f: {"share": [], "delta": [], "ssim": [], "anchor": [], "cpu": [], "iso": []} for f in FORMATS}
    jpeg_cpu = []
    for name, row in renditions.items():
        jpeg = row["jpg"]["default"]
        jpeg_cpu.append(jpeg["cpu_ms"])
        cells = [name, f"{jpeg['bytes']:,} B, {jpeg['ssimulacra2']:.1f}"]
        for f in FORMATS:
            ours = row[column(f)]["default"]
            share = ours["bytes"] / jpeg["bytes"]
            delta = ours["ssimulacra2"] - jpeg["ssimulacra2"]
            anchor = ours["bytes"] / _at_score(row[f"{f}-anchor"], ours["ssimulacra2"])
            iso = _at_score(list(row[column(f)].values()), jpeg["ssimulacra2"]) / jpeg["bytes"]
            for key, value in (("share", share), ("delta", delta), ("anchor", anchor), ("iso", iso),
                               ("ssim", ours["ssim"] - jpeg["ssim"]), ("cpu", ours["cpu_ms"])):
                summary[f][key].append(value)
            cells.append(f"{_pct(share)}, {delta:+.1f}, {_pct(iso)}, {anchor:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| **median** | " + f"CPU {statistics.median(jpeg_cpu):.0f} ms | " + " | ".join(
        f"**{_pct(statistics.median(summary[f]['share']))}**, {statistics.median(summary[f]['delta']):+.1f} "
        f"(SSIM {statistics.median(summary[f]['ssim']):+.4f}), {_pct(statistics.median(summary[f]['iso']))}, "
        f"{statistics.median(summary[f]['anchor']):.2f}x; "
        f"CPU {statistics.median(summary[f]['cpu']):.0f} ms" for f in FORMATS) + " |")
    return lines


def graphics_table(graphics: dict) -> list[str]:
    formats = ("png", "jpg", "webp", "heic", "avif")
    lines = ["| graphic | " + " | ".join(f"{f.upper()}: bytes, score, CPU" for f in formats) + " |",
             "|---|" + "---|" * len(formats)]
    for name, row in graphics.items():
        cells = [f"{row[f]['bytes']:,} B, {row[f]['ssimulacra2']:.1f}, {row[f]['cpu_ms']:.0f} ms" if f in row else "(alpha)"
                 for f in formats]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def j2h_table(j2h: dict) -> list[str]:
    """/j2h against heif-enc; with effort "small" too when the run measured it ("edge small")."""
    kinds = ["edge"] + (["edge small"] if "edge small" in next(iter(j2h.values())) else [])
    titles = {"edge": "edge /j2h", "edge small": 'edge /j2h, effort "small"'}
    lines = ["| source JPEG | bytes | score | " + " | ".join(f"{titles[k]}: bytes | score | CPU" for k in kinds)
             + " | heif-enc -q 50: bytes | score | CPU |", "|---|---|---|" + "---|---|---|" * (len(kinds) + 1)]
    shares, deltas, anchor_shares = {k: [] for k in kinds}, {k: [] for k in kinds}, []
    for name, row in j2h.items():
        jpeg, anchor = row["jpeg"], row["heif-enc -q 50"]
        cells = [name, f"{jpeg['bytes']:,}", f"{jpeg['ssimulacra2']:.1f}"]
        for kind in kinds:
            ours = row[kind]
            shares[kind].append(ours["bytes"] / jpeg["bytes"])
            deltas[kind].append(ours["ssimulacra2"] - jpeg["ssimulacra2"])
            cells += [_pct(shares[kind][-1]), f"{ours['ssimulacra2']:.1f} ({deltas[kind][-1]:+.1f})",
                      f"{ours['cpu_ms']:.0f} ms"]
        anchor_shares.append(anchor["bytes"] / jpeg["bytes"])
        cells += [_pct(anchor_shares[-1]), f"{anchor['ssimulacra2']:.1f}", f"{anchor['cpu_ms']:.0f} ms"]
        lines.append("| " + " | ".join(cells) + " |")
    medians = ["**median**", "", ""]
    for kind in kinds:
        medians += [f"**{_pct(statistics.median(shares[kind]))}**", f"{statistics.median(deltas[kind]):+.1f}", ""]
    lines.append("| " + " | ".join(medians + [_pct(statistics.median(anchor_shares)), "", ""]) + " |")
    return lines


def _gif2webp_lossy(row: dict, score: float, past_reach: int) -> tuple[dict, float]:
    """gif2webp -lossy -q 75's point of a GIF's `row`, and gif2webp -lossy's bytes interpolated at
    `score` (`past_reach` bytes, a lossless anchor's, where no -lossy setting scores as high)."""
    curve = row["gif2webp -lossy"]
    reach = max(p["ssimulacra2"] for p in curve)
    return (next(p for p in curve if p["setting"] == 75),
            _at_score(curve, score) if score <= reach else past_reach)


def gif_table(gifs: dict) -> list[str]:
    lines = ["| GIF | bytes | edge: bytes (of GIF) | score | CPU | gif2webp lossless | gif2webp -lossy -q 75: bytes | score | CPU "
             "| gif2webp at edge's score (-lossy; lossless past its reach) | edge / it | CPU edge / gif2webp -lossy |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in gifs.items():
        ours, lossless = row["edge"], row["gif2webp"]
        lossy, equal = _gif2webp_lossy(row, ours["ssimulacra2"], lossless["bytes"])
        clip = f" ({ours['vs_clip']:.1f} vs clip; the GIF {row['gif_vs_clip']:.1f})" if "vs_clip" in ours else ""
        lines.append(f"| {name} ({row['kind']}, {row['frames']} frames) | {row['gif_bytes']:,} | "
                     f"{ours['bytes']:,} ({_pct(ours['share'])}) | {ours['ssimulacra2']:.1f}{clip} | {ours['cpu_ms']:.0f} ms | "
                     f"{lossless['bytes']:,} | {lossy['bytes']:,} | {lossy['ssimulacra2']:.1f} | {lossy['cpu_ms']:.0f} ms | "
                     f"{equal:,.0f} | {ours['bytes'] / equal:.2f}x | {ours['cpu_ms'] / lossy['cpu_ms']:.2f}x |")
    return lines


def resized_gif_table(gifs: dict) -> list[str]:
    lines = ["| GIF at the width | edge format,gif: bytes | score | edge format,webp: bytes (of the GIF rendition) | score | CPU "
             "| gif2webp -min_size on that GIF: bytes | score | CPU | gif2webp -lossy at edge's score (lossless past its reach) "
             "| edge / it | CPU edge / gif2webp -lossy -q 75 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in gifs.items():
        ours, best = row["edge"], row["gif2webp -min_size"]
        lossy, equal = _gif2webp_lossy(row, ours["ssimulacra2"], min(best["bytes"], row["gif2webp"]["bytes"]))
        lines.append(f"| {name} ({row['kind']}, {row['frames']} frames) at {row['width']} | {row['gif']['bytes']:,} | "
                     f"{row['gif']['ssimulacra2']:.1f} | {ours['bytes']:,} ({_pct(ours['share'])}) | {ours['ssimulacra2']:.1f} | "
                     f"{ours['cpu_ms']:.0f} ms | {best['bytes']:,} | {best['ssimulacra2']:.1f} | {best['cpu_ms']:.0f} ms | "
                     f"{equal:,.0f} | {ours['bytes'] / equal:.2f}x | {ours['cpu_ms'] / lossy['cpu_ms']:.2f}x |")
    return lines


def photo_chart(renditions: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 6), dpi=100)
    colours = {"jpg": "black", "heic": "tab:red", "avif": "tab:blue", "webp": "tab:green"}
    rows = list(renditions.values())
    for f, colour in colours.items():
        keys = ["50", "70", "default", "95"]  # JSON keys
        bpp = [statistics.mean(r[f][k]["bpp"] for r in rows) for k in keys]
        score = [statistics.mean(r[f][k]["ssimulacra2"] for r in rows) for k in keys]
        ax.plot(bpp, score, "o-", color=colour, label=f"edge {f} (Q 50, 70, default 85, 95)")
        ax.plot(bpp[2], score[2], "*", color=colour, markersize=16)
        if f"{f} small" in rows[0]:
            small = [(statistics.mean(r[f"{f} small"][k]["bpp"] for r in rows),
                      statistics.mean(r[f"{f} small"][k]["ssimulacra2"] for r in rows)) for k in keys]
            ax.plot([p[0] for p in small], [p[1] for p in small], "^:", color=colour, label=f'edge {f}, effort "small"')
        if f in TOOL:
            curve = [(statistics.mean(r[f"{f}-anchor"][i]["bpp"] for r in rows),
                      statistics.mean(r[f"{f}-anchor"][i]["ssimulacra2"] for r in rows)) for i in range(3)]
            curve.sort()
            ax.plot([c[0] for c in curve], [c[1] for c in curve], "s--", color=colour, alpha=0.6,
                    label=f"{TOOL[f]} (anchor)")
    _label(ax, "bits per pixel (mean over the photographs, half size)",
           "SSIMULACRA2 against the lossless rendition (mean)",
           "Photographs: rate and distortion (stars: the default quality)")
    _save(fig, path)


def gif_chart(gifs: dict, path: Path) -> None:
    videos = {k: v for k, v in gifs.items() if "edge_curve" in v}
    fig, axes = plt.subplots(1, len(videos), figsize=(5 * len(videos), 4.5), dpi=100, squeeze=False)
    for ax, (name, row) in zip(axes[0], videos.items()):
        lossy = sorted(row["gif2webp -lossy"], key=lambda p: p["bytes"])
        ax.plot([100 * p["share"] for p in lossy], [p["ssimulacra2"] for p in lossy], "s--", color="tab:gray",
                label="gif2webp -lossy -q 50/75/90")
        ours = sorted(row["edge_curve"] + [row["edge"]], key=lambda p: p["bytes"])
        ax.plot([100 * p["share"] for p in ours], [p["ssimulacra2"] for p in ours], "o-", color="tab:green",
                label="edge Q 50 / default / Q 85")
        ax.plot(100 * row["edge"]["share"], row["edge"]["ssimulacra2"], "*", color="tab:green", markersize=16)
        _label(ax, "% of the GIF's bytes", "SSIMULACRA2 against the GIF's frames", name)
    _save(fig, path)


def _label(ax, x: str, y: str, title: str) -> None:
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(result: dict, out: Path | None) -> None:
    """Write the JSON, the charts and the tables (into `out`, or into the repository)."""
    if out is None:
        json_path, docs = REPO / "benchmarks" / "results" / "bytes.json", REPO / "docs"
    else:
        out.mkdir(parents=True, exist_ok=True)
        json_path, docs = out / "bytes.json", out
    json_path.write_text(json.dumps(result, indent=1))
    photo_chart(result["renditions"], docs / "compression-photos.png")
    gif_chart(result["gifs"], docs / "compression-gifs.png")
    tables = [BEGIN, f"Run of {result['date']} (`python benchmarks/bytes.py`).", "",
              "### Renditions at the default quality", "", *rendition_table(result["renditions"]), "",
              *(["### Renditions at the default quality, `[compression] effort = \"small\"`", "",
                 *rendition_table(result["renditions"], "small"), ""]
                if "heic small" in next(iter(result["renditions"].values())) else []),
              "### Graphics at the default quality", "", *graphics_table(result.get("graphics", {})), "",
              "### /j2h (full size)", "", *j2h_table(result["j2h"]), "",
              "### GIF -> WebP (/g2w, format,webp)", "", *gif_table(result["gifs"]), "",
              "### GIF -> WebP resized (half width; the demo's animated.gif at 160)", "",
              *resized_gif_table(result.get("resized_gifs", {})), END]
    page = docs / "compression.md"
    text = (REPO / "docs" / "compression.md").read_text() if (REPO / "docs" / "compression.md").exists() else f"{BEGIN}\n{END}\n"
    before, _, rest = text.partition(BEGIN)
    _, _, after = rest.partition(END)
    page.write_text(before + "\n".join(tables) + after)
