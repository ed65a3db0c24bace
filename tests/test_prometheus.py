"""deploy/prometheus and deploy/grafana: a real Prometheus scrapes a running edge with the alert
rules loaded; promtool checks and unit-tests the rules; every metric the dashboard and the rules
name exists on /metrics, and every expression they hold runs in Prometheus."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
import requests
import yaml

from conftest import ROOT, Server, free_port, stop_process

RULES = ROOT / "deploy" / "prometheus" / "edge-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "edge-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "edge-dashboard.json"
METRIC = re.compile(r"\bedge_[a-z0-9_]+\b")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # not a skip: ./setup.sh installs it
        pytest.fail(f"{name} is not installed: run ./setup.sh (it installs Debian's prometheus)", pytrace=False)
    return path


def rule_expressions() -> dict[str, str]:
    return {rule["alert"]: rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]}


def dashboard_expressions() -> dict[str, str]:
    """Panel title and target -> its PromQL, with Grafana's variables as Prometheus would get them."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {f"{panel['title']} {target['refId']}": target["expr"].replace("$__rate_interval", "1m")
            .replace("$instance", ".+") for panel in panels for target in panel["targets"]}


@pytest.fixture(scope="module")
def scraped(tmp_path_factory, samples, redis_url):
    """A running edge (with a Redis level, so its breaker is exported) that has answered some
    traffic, and a real Prometheus scraping it every second with the alert rules loaded: (edge,
    Prometheus base URL)."""
    tmp = tmp_path_factory.mktemp("prometheus")
    edge = Server(tmp, f"""
[server]
port = {{port}}
workers = 1

[cache]
redis_url = "{redis_url}"

[buckets.metrics]
source = "file://{samples}"
""", name="scraped")
    for path in ("/metrics/photo.jpg?x-oss-process=image/resize,w_64", "/metrics/photo.jpg?x-oss-process=image/resize,w_64",
                 "/metrics/photo.jpg", "/metrics/missing.jpg", "/metrics/photo.jpg?x-oss-process=image/resize,w_x"):
        edge.get(path)
    os.kill(edge.worker_pids()[0], signal.SIGKILL)  # a worker restart, by reason "died"
    port = free_port()
    (tmp / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {RULES}
scrape_configs:
  - job_name: edge
    static_configs:
      - targets: ["127.0.0.1:{edge.port}"]
""")
    log = open(tmp / "prometheus.log", "w")
    prometheus = subprocess.Popen(
        [tool("prometheus"), f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not query(base, 'sum(rate(edge_requests_total{job="edge"}[1m])) > 0', must=False):
            assert prometheus.poll() is None and time.monotonic() < deadline, (tmp / "prometheus.log").read_text()
            time.sleep(0.3)
        yield edge, base
    finally:
        stop_process(prometheus)
        log.close()
        edge.stop()


def query(base: str, expression: str, must: bool = True) -> list[dict]:
    """The instant vector Prometheus answers for `expression` (its query API must accept it). With
    `must` False, a Prometheus not listening yet, or still starting (503 "Service Unavailable",
    not JSON), answers nothing."""
    try:
        answer = requests.get(f"{base}/api/v1/query", params={"query": expression}, timeout=10)
    except requests.ConnectionError:
        if must:
            raise
        return []
    if answer.status_code == 503 and not must:
        return []
    body = answer.json()
    assert body["status"] == "success" or not must, f"{expression}: {body}"
    return body.get("data", {}).get("result", [])


def test_promtool_checks_the_rules_and_passes_their_unit_tests():
    check = subprocess.run([tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS: 5 rules found" in check.stdout, check.stdout + check.stderr
    tests = subprocess.run([tool("promtool"), "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent,
                           capture_output=True, text=True, timeout=60)
    assert tests.returncode == 0 and "SUCCESS" in tests.stdout, tests.stdout + tests.stderr
    # Every alert has a case where it fires and one where it must not.
    cases = [case for test in yaml.safe_load(RULE_TESTS.read_text())["tests"] for case in test["alert_rule_test"]]
    for alert in rule_expressions():
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case["exp_alerts"] for case in mine) and any(not case["exp_alerts"] for case in mine), alert


def test_a_wrong_expectation_fails_the_rule_tests(tmp_path):
    # The unit tests can fail: with a threshold raised, the firing case no longer fires.
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    (tmp_path / RULES.name).write_text(RULES.read_text().replace("> 0.05", "> 0.5"))
    tests = subprocess.run([tool("promtool"), "test", "rules", RULE_TESTS.name], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert tests.returncode != 0 and "EdgeHigh5xxRatio" in tests.stdout + tests.stderr


def test_prometheus_scrapes_edge_with_the_rules_loaded(scraped):
    edge, base = scraped
    assert query(base, 'up{job="edge"}')[0]["value"][1] == "1"
    statuses = {sample["metric"]["status"] for sample in query(base, 'edge_requests_total{job="edge"}')}
    assert {"200", "404", "400"} <= statuses, statuses
    hits = query(base, 'edge_cache_lookups_total{level="memory", result="hit"}')
    assert float(hits[0]["value"][1]) >= 1
    deadline = time.monotonic() + 20
    while True:
        restarts = query(base, 'edge_worker_restarts_total{reason="died"}')
        if restarts or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert restarts and float(restarts[0]["value"][1]) == 1
    # Every rule loaded, evaluated without error; none fires on a healthy edge.
    deadline = time.monotonic() + 20
    while True:
        rules = [rule for group in requests.get(f"{base}/api/v1/rules", timeout=10).json()["data"]["groups"]
                 for rule in group["rules"]]
        if all(rule["lastEvaluation"] > "2000" for rule in rules) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert sorted(rule["name"] for rule in rules) == sorted(rule_expressions())
    assert all(rule["health"] == "ok" and rule["state"] == "inactive" for rule in rules), rules
    # Redis is up: the breaker is exported closed.
    assert query(base, 'edge_breaker_state{dependency="redis"}')[0]["value"][1] == "0"


def test_every_metric_the_dashboard_and_rules_name_is_on_metrics(scraped):
    edge, base = scraped
    exported = set(re.findall(r"^# TYPE (\w+) ", edge.get("/metrics").text, re.M))
    expressions = {**dashboard_expressions(), **rule_expressions()}
    named = {re.sub(r"_(bucket|count|sum)$", "", name) for expression in expressions.values()
             for name in METRIC.findall(expression)}
    assert named - exported == set(), f"named but not exported: {named - exported}"
    assert len(named) >= 15, named
    # Each expression is PromQL that Prometheus runs; the traffic panels have data.
    for title, expression in expressions.items():
        result = query(base, expression)
        if title.startswith(("Requests by status", "Requests by dialect", "Latency percentiles", "Busy workers",
                             "Cache hit ratio", "Bytes in and out")):
            assert result, f"{title}: no data for {expression}"


def test_the_dashboard_covers_what_an_operator_watches():
    panels = {panel["title"]: panel for panel in json.loads(DASHBOARD.read_text())["panels"]}
    for title in ("Requests by status", "Requests by dialect", "Errors by status and dialect", "Latency percentiles",
                  "Cache hit ratio by level", "Queue depth", "Queue wait", "Busy workers", "Worker restarts by reason",
                  "Source fetch errors", "Bytes in and out"):
        assert title in panels, title
        assert all("$instance" in target["expr"] for target in panels[title]["targets"]), title
    ids = [panel["id"] for panel in panels.values()]
    assert len(ids) == len(set(ids))
