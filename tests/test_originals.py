"""One download per original (edge.originals), for an HTTP source (a real nginx): a srcset burst
of six widths fetches the original once, and widths asked a moment later use the kept bytes."""

from concurrent.futures import ThreadPoolExecutor

from conftest import open_image


def test_six_widths_of_an_http_original_at_once_fetch_it_once(server, samples):
    (samples / "burst").mkdir(exist_ok=True)
    (samples / "burst" / "http.jpg").write_bytes((samples / "photo.jpg").read_bytes())
    reads = {how: server.metric("edge_source_reads_total", how=how) for how in ("fetched", "joined", "kept")}
    widths = [60, 90, 120, 150, 180, 210]
    with ThreadPoolExecutor(len(widths)) as pool:
        answers = list(pool.map(
            lambda w: server.get("/web/burst/http.jpg", params={"x-oss-process": f"image/resize,w_{w}"}), widths))
    assert [open_image(answer).size[0] for answer in answers] == widths
    assert server.metric("edge_source_reads_total", how="fetched") - reads["fetched"] == 1
    later = server.get("/web/burst/http.jpg", params={"x-oss-process": "image/resize,w_70"})
    assert open_image(later).size[0] == 70
    assert server.metric("edge_source_reads_total", how="fetched") - reads["fetched"] == 1
    shared = sum(server.metric("edge_source_reads_total", how=how) - reads[how] for how in ("joined", "kept"))
    assert shared == len(widths)  # the five others of the burst, and the later width
