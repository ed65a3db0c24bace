"""The systemd unit and the Kubernetes example in deploy/ agree with edge: the unit verifies and
stops edge within its TimeoutStopSec; the manifests hang together, their config is valid, and
edge started with it answers the probes and the scrape they name."""

from __future__ import annotations

import configparser
import os
import shlex
import signal
import subprocess
import time
import tomllib

import pytest
import requests
import yaml

from conftest import ROOT, edge_running, free_port
from edge import config as config_module

UNIT = ROOT / "deploy" / "systemd" / "edge.service"
K8S = ROOT / "deploy" / "k8s"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNIT)
    return parser


def test_the_systemd_unit_verifies():
    """systemd-analyze reads it as systemd will: no unknown key, no value it cannot parse. (The
    only complaint allowed is that /opt/edge is not installed on this machine.)"""
    checked = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True)
    problems = [line for line in (checked.stdout + checked.stderr).splitlines()
                if line.strip() and "/opt/edge/.venv/bin/edge is not executable" not in line]
    assert problems == []


def test_the_systemd_unit_stops_edge_within_its_timeout(tmp_path, samples):
    """ExecStart's arguments start edge; KillSignal stops it within TimeoutStopSec, which leaves
    room for shutdown_timeout + 1 s."""
    service = unit()["Service"]
    stop_seconds = float(service["TimeoutStopSec"])
    assert stop_seconds > config_module.ServerConfig().shutdown_timeout + 1
    binary, *arguments = shlex.split(service["ExecStart"])
    assert binary == "/opt/edge/.venv/bin/edge" and arguments[:2] == ["serve", "--config"]
    port = free_port()
    config = tmp_path / "edge.toml"
    config.write_text(f'[server]\nport = {port}\nworkers = 1\n[buckets.test]\nsource = "file://{samples}"\n')
    arguments[arguments.index("--config") + 1] = str(config)
    with edge_running(arguments, port, tmp_path / "edge.log", dict(os.environ, PYTHONPATH=str(ROOT))) as process:
        assert requests.get(f"http://127.0.0.1:{port}/test/photo.jpg", timeout=30).status_code == 200
        started = time.monotonic()
        process.send_signal(getattr(signal, service["KillSignal"]))
        process.wait(stop_seconds)
        assert time.monotonic() - started < stop_seconds and process.returncode == 0


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    """'<kind>/<name>' -> the object, for every file kustomization.yaml lists."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    objects = {}
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((K8S / resource).read_text()):
            objects[f"{document['kind']}/{document['metadata']['name']}"] = document
    return objects


def edge_toml(manifests) -> str:
    return manifests["ConfigMap/edge-config"]["data"]["edge.toml"]


def test_the_configmap_is_a_valid_config(manifests, tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text(edge_toml(manifests))
    loaded = config_module.load(str(path), environ={})
    assert loaded.cache.redis_url == "redis://edge-redis:6379/0" and "Service/edge-redis" in manifests


def test_the_deployment_agrees_with_the_config(manifests):
    config = tomllib.loads(edge_toml(manifests))
    pod = manifests["Deployment/edge"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    port = config["server"]["port"]
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # SIGTERM comes after preStop: the grace period covers it, the drain and the exit.
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    assert grace >= pre_stop + config["server"]["shutdown_timeout"] + 1
    assert grace <= pre_stop + config["server"]["shutdown_timeout"] + 10  # not minutes of a hung pod
    annotations = pod["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                           "prometheus.io/path": "/metrics"}
    assert float(container["resources"]["requests"]["cpu"]) == config["server"]["workers"]
    assert container["command"][:2] == ["/opt/edge/.venv/bin/edge", "serve"]


def test_service_budget_and_autoscaler_point_at_the_deployment(manifests):
    deployment = manifests["Deployment/edge"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    service = manifests["Service/edge"]["spec"]
    assert service["selector"] == labels and service["ports"][0]["targetPort"] == "http"
    assert manifests["PodDisruptionBudget/edge"]["spec"]["selector"]["matchLabels"] == labels
    hpa = manifests["HorizontalPodAutoscaler/edge"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "edge"}
    assert hpa["minReplicas"] >= 2  # the budget's one pod down leaves one serving
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"


def test_edge_with_the_configmap_answers_the_probes_and_the_scrape(manifests, tmp_path, samples):
    """The ConfigMap's config as it is, but for the port, the bucket's source, Redis and the
    cache folder (there is no cluster here), through the environment as docs/configuration.md says."""
    config = tmp_path / "edge.toml"
    config.write_text(edge_toml(manifests))
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), EDGE_SERVER__HOST="127.0.0.1", EDGE_SERVER__PORT=str(port),
               EDGE_SERVER__WORKERS="1", EDGE_BUCKETS__PHOTOS__SOURCE=f"file://{samples}", EDGE_CACHE__REDIS_URL="",
               EDGE_CACHE__DISK_PATH=str(tmp_path / "cache"))
    pod = manifests["Deployment/edge"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    with edge_running(["serve", "--config", str(config)], port, tmp_path / "edge.log", env):
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            path = container[probe]["httpGet"]["path"]
            assert requests.get(f"http://127.0.0.1:{port}{path}", timeout=probe_timeout(container, probe)).ok
        scrape = requests.get(f"http://127.0.0.1:{port}{pod['metadata']['annotations']['prometheus.io/path']}",
                              timeout=10)
        assert scrape.ok and "edge_requests_total" in scrape.text
        assert requests.get(f"http://127.0.0.1:{port}/photos/photo.jpg?x-oss-process=image/resize,w_50",
                            timeout=30).status_code == 200


def probe_timeout(container: dict, probe: str) -> float:
    return float(container[probe].get("timeoutSeconds", 1))
