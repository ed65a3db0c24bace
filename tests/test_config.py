"""Configuration: the SPEC's example works, bad keys stop start-up naming the key, env overrides."""

import subprocess
import sys
from pathlib import Path

import pytest

from edge import config
from edge.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_config_loads():
    loaded = config.load(str(ROOT / "config" / "example.toml"), environ={})
    demo = loaded.buckets["demo"]
    assert loaded.server.port == 8080 and loaded.server.workers == 2 and loaded.server.queue == 64
    assert loaded.cache.memory_bytes == 268435456
    assert demo.domains == ("img.example.com",)
    assert demo.styles["thumb"] == "image/resize,m_fill,w_100,h_100/format,png"
    assert demo.style_separators == ("@!", "-")
    assert demo.access_keys["LTAI5tExampleKeyId"] == "example-secret"
    assert demo.protection.suffixes == (".jpg", ".png")
    assert loaded.bucket_for_host("IMG.example.com:8080") is demo


@pytest.mark.parametrize("toml, words", [
    ("[server]\nprot = 1", "server.prot: unknown key"),
    ("[server]\nport = 70000", "server.port: must be 0..65535"),
    ("[server]\nport = 'eighty'", "server.port: must be int"),
    ("[server]\nqueue_timeout = 0", "server.queue_timeout: must be in (0, 3600] seconds"),
    ("[cache]\nmemory_bytes = -1", "cache.memory_bytes"),
    ("[buckets.demo]\nsource = 'ftp://x'", "buckets.demo.source"),
    ("[buckets.demo]\ndomains = ['a']", "buckets.demo.source: missing"),
    ("[buckets.Demo_1]\nsource = 'file:///tmp'", "buckets.Demo_1"),
    ("[buckets.demo]\nsource = 'file:///tmp'\nstyle_separators = ['#']", "buckets.demo.style_separators"),
    ("[buckets.demo]\nsource = 'file:///tmp'\nstyles = {'bad name' = 'image/resize,w_1'}", "buckets.demo.styles"),
    ("[buckets.demo]\nsource = 'file:///tmp'\n[buckets.demo.protection]\nenable = true",
     "buckets.demo.protection.enable: unknown key"),
    ("[limit]\nsource_bytes = 1", "limit: unknown key"),
    ("[compression]\neffort = 'max'", 'compression.effort: must be "fast" or "small"'),
    ("[server\nport = 1", "not valid TOML"),
])
def test_bad_config_names_the_key(tmp_path, toml, words):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as raised:
        config.load(str(path), environ={})
    assert words in str(raised.value)


def test_fifty_one_styles_are_refused(tmp_path):
    styles = "\n".join(f"s{i} = 'image/resize,w_{i + 1}'" for i in range(51))
    path = tmp_path / "many.toml"
    path.write_text(f"[buckets.demo]\nsource = 'file:///tmp'\n[buckets.demo.styles]\n{styles}")
    with pytest.raises(ConfigError, match="at most 50 styles"):
        config.load(str(path), environ={})


def test_environment_overrides_every_level(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[server]\nport = 1000\n[buckets.demo]\nsource = 'file:///tmp'")
    loaded = config.load(str(path), environ={
        "EDGE_SERVER__PORT": "9001",
        "EDGE_CACHE__REDIS_URL": "redis://127.0.0.1:6379/0",
        "EDGE_BUCKETS__DEMO__DOMAINS": '["a.example", "b.example"]',
        "EDGE_BUCKETS__DEMO__PROTECTION__ENABLED": "true",
        "EDGE_BUCKETS__PICS__SOURCE": "https://origin.example/prefix",
    })
    assert loaded.server.port == 9001
    assert loaded.cache.redis_url == "redis://127.0.0.1:6379/0"
    assert loaded.buckets["demo"].domains == ("a.example", "b.example")
    assert loaded.buckets["demo"].protection.enabled is True
    assert loaded.buckets["pics"].source == "https://origin.example/prefix"


def test_bad_environment_value_names_the_key():
    with pytest.raises(ConfigError, match="server.workers"):
        config.load(None, environ={"EDGE_SERVER__WORKERS": "many"})


def serve_with(tmp_path, toml: str) -> subprocess.CompletedProcess:
    """`edge serve --config` on a file holding `toml` (for configs that must stop start-up)."""
    path = tmp_path / "edge.toml"
    path.write_text(toml)
    return subprocess.run([sys.executable, "-m", "edge", "serve", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_edge_serve_refuses_a_bad_config(tmp_path):
    result = serve_with(tmp_path, "[server]\nworkers = -3")
    assert result.returncode == 2
    assert "server.workers" in result.stderr


def test_a_style_that_does_not_parse_stops_start_up(tmp_path):
    result = serve_with(tmp_path, "[buckets.demo]\nsource = 'file:///tmp'\n[buckets.demo.styles]\n"
                                  "thumb = 'image/resize,w_0'")
    assert result.returncode == 2
    assert "buckets.demo.styles.thumb" in result.stderr and "w must be in" in result.stderr
