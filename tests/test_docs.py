"""The docs are true: every example in README.md and docs/ is run, the configuration reference
matches the config schema, config/example.toml starts, and no link leaves the repository.

What is collected from the markdown, and what it must answer:
- a URL `http://127.0.0.1:8080/...` (outside a curl line): fetched from the demo server, 200;
- a line of a fenced code block that is a request path (`/demo/...`, `/j2h/...`, `/g2w/...`),
  optionally after a method and followed by `-> <status> [<error code or content type>]`:
  sent to the demo server, and the answer must be that (200 when nothing is said);
- a key example in a table cell (`photo.jpg-thumb`, `photo.jpg?x-oss-process=...`: a demo
  sample's name and then instructions): fetched as `/demo/<it>`, 200;
- a `curl` line of a `sh` code block: run with bash against the demo server, exit status 0;
- the environment examples of docs/configuration.md: accepted together with
  config/example.toml.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
import typing
from pathlib import Path

import pytest
import requests

from conftest import ROOT, edge_running, free_port
from edge import config as config_module
from edge import demo as demo_module
from test_demo import demo  # noqa: F401  (the fixture: `edge serve` of a fresh demo)

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DEMO_BASE = "http://127.0.0.1:8080"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
REQUEST = re.compile(r"^(?:(GET|HEAD|POST|PUT|DELETE) )?(/(?:demo|j2h|g2w)/\S+)(?:\s+->\s+(\d{3})(?:\s+(\S+))?)?\s*$")
KEY_EXAMPLE = re.compile(r"`((?:%s)[?@!_/-][^`\s]*)`" % "|".join(re.escape(n) for n in demo_module.SAMPLES))


@dataclasses.dataclass(frozen=True)
class Example:
    doc: str
    method: str
    path: str
    status: int = 200
    expect: str = ""  # an OSS error code, or a content type (with a '/')

    def __str__(self) -> str:
        return f"{self.doc}: {self.method} {self.path} -> {self.status} {self.expect}".rstrip()


def collect_examples(docs: list[Path] = DOCS) -> tuple[list[Example], list[tuple[str, str]]]:
    """(the requests the docs show, the curl lines of their sh blocks as (doc, line))."""
    examples, curls = [], []
    for doc in docs:
        text, name = doc.read_text(), doc.relative_to(ROOT).as_posix()
        fenced = ""
        for kind, body in FENCE.findall(text):
            fenced += body
            for line in body.splitlines():
                line = line.strip()
                if kind == "sh" and line.startswith("curl "):
                    curls.append((name, line))
                    continue
                match = REQUEST.match(line)
                if match:
                    examples.append(Example(name, match[1] or "GET", match[2], int(match[3] or 200), match[4] or ""))
        for line in text.splitlines():
            if line.lstrip().startswith("curl "):
                continue
            for url in re.findall(re.escape(DEMO_BASE) + r"(/[^\s>)`'\"]*)", line):
                examples.append(Example(name, "GET", url))
            if line.startswith("|") and line not in fenced:
                for key in KEY_EXAMPLE.findall(line):
                    examples.append(Example(name, "GET", f"/demo/{key}"))
    return list(dict.fromkeys(examples)), curls


def test_the_docs_have_examples_to_run():
    examples, curls = collect_examples()
    docs = {example.doc for example in examples}
    assert {"README.md", "docs/dialects.md", "docs/transcode.md", "docs/watermarks.md"} <= docs, docs
    assert any(status != 200 for status in (example.status for example in examples))
    assert curls


def test_every_example_in_the_docs_answers_as_written(demo):  # noqa: F811
    base, _, _, _ = demo
    examples, _ = collect_examples()
    failures, report = [], []
    for example in examples:
        response = requests.request(example.method, base + example.path, timeout=60)
        kind = response.headers.get("Content-Type", "").split(";")[0]
        code = re.search(r"<Code>(\w+)</Code>", response.text) if kind == "application/xml" else None
        report.append(f"{response.status_code} {kind:16} {example}")
        wrong = response.status_code != example.status or (
            example.expect and example.expect != (kind if "/" in example.expect else code and code[1]))
        if wrong:
            failures.append(f"{example}\n    answered {response.status_code} {kind}: {response.text[:300]}")
    print("\n".join(report))
    assert not failures, "examples that do not answer as the docs say:\n" + "\n".join(failures)


def test_every_curl_line_in_the_docs_runs(demo, tmp_path):  # noqa: F811
    base, _, _, env = demo
    _, curls = collect_examples()
    for doc, line in curls:
        result = subprocess.run(["bash", "-c", line.replace(DEMO_BASE, base)], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{doc}: {line}\n{result.stdout}{result.stderr}"


# --- the configuration reference ---------------------------------------------------------------

def schema_sections() -> dict[str, dict[str, typing.Any]]:
    """Section heading (`server`, `buckets.<name>.protection`) -> {key: default} from edge/config.py."""
    sections: dict[str, dict[str, typing.Any]] = {}

    def walk(cls, where: str) -> None:
        keys = sections.setdefault(where, {})
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            if field.name == "name" and cls is config_module.BucketConfig:
                continue  # the table's name
            if dataclasses.is_dataclass(hints[field.name]):
                walk(hints[field.name], f"{where}.{field.name}")
            elif field.default is not dataclasses.MISSING:
                keys[field.name] = field.default
            else:
                keys[field.name] = field.default_factory()

    for field in dataclasses.fields(config_module.Config):
        if field.name == "buckets":
            walk(config_module.BucketConfig, "buckets.<name>")
        else:
            walk(typing.get_type_hints(config_module.Config)[field.name], field.name)
    return sections


def toml_literal(value: typing.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, typing.Mapping):
        return "{}"
    return str(value)


def documented_sections(text: str) -> dict[str, dict[str, str]]:
    """### `[section]` -> {key: the default cell} from docs/configuration.md's tables."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        heading = re.match(r"^### `\[(.+)\]`", line)
        if heading:
            current = sections.setdefault(heading[1], {})
        elif current is not None and (row := re.match(r"^\| `(\w+)` \| (.*?) \|", line)):
            current[row[1]] = row[2]
    return sections


def test_configuration_md_lists_every_key_with_its_default():
    documented = documented_sections((ROOT / "docs" / "configuration.md").read_text())
    problems = []
    for section, keys in schema_sections().items():
        rows = documented.get(section, {})
        for key, default in keys.items():
            if key not in rows:
                problems.append(f"[{section}] {key}: in edge/config.py, not in docs/configuration.md")
            elif key != "source" and not rows[key].startswith(f"`{toml_literal(default)}`"):
                problems.append(f"[{section}] {key}: the doc says {rows[key]}, the default is {toml_literal(default)}")
        problems += [f"[{section}] {key}: documented, not in edge/config.py" for key in rows if key not in keys]
    problems += [f"[{section}]: documented, not in edge/config.py" for section in documented
                 if section not in schema_sections()]
    assert not problems, "\n".join(problems)


def test_example_toml_shows_every_key():
    example = tomllib.loads((ROOT / "config" / "example.toml").read_text())
    missing = []
    for section, keys in schema_sections().items():
        table = example
        for part in section.replace("<name>", "demo").split("."):
            table = table.get(part, {})
        missing += [f"{section}.{key}" for key in keys if key not in table]
    assert not missing, f"config/example.toml lacks {missing}"


def environment_examples() -> dict[str, str]:
    """The `EDGE_...=value` examples of docs/configuration.md, as the shell would pass them."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    pairs = (shlex.split(found)[0].split("=", 1) for found in re.findall(r"`(EDGE_\w+=[^`]+)`", text))
    return dict(pairs)


def test_the_environment_examples_work_with_example_toml():
    environ = environment_examples()
    assert "EDGE_BUCKETS__PHOTOS__DOMAINS" in environ
    loaded = config_module.load(str(ROOT / "config" / "example.toml"), environ=environ)
    assert loaded.server.port == int(environ["EDGE_SERVER__PORT"])
    assert loaded.bucket_for_host("photos.example.com").name == "photos"
    assert loaded.bucket_for_host("img.example.com").name == "demo"


SERVE_EXAMPLE = ["serve", "--config", "config/example.toml"]


def example_env(environ: dict[str, str]) -> dict[str, str]:
    """This environment without its EDGE_ settings, with `environ`'s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env.update(environ, PYTHONPATH=str(ROOT))
    return env


def serve_example(tmp_path: Path, environ: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge", *SERVE_EXAMPLE], cwd=ROOT,
                            stdout=open(tmp_path / "edge.log", "ab"), stderr=subprocess.STDOUT,
                            env=example_env(environ), start_new_session=True)


def test_example_toml_as_pasted_names_its_missing_folder_or_serves(tmp_path):
    folder = tomllib.loads((ROOT / "config" / "example.toml").read_text())["buckets"]["demo"]["source"][len("file://"):]
    process = serve_example(tmp_path, {"EDGE_SERVER__PORT": str(free_port())})
    try:
        if os.path.isdir(folder):  # a machine that has the folder: then it serves
            time.sleep(3)
            assert process.poll() is None, (tmp_path / "edge.log").read_text()
            return
        assert process.wait(60) == 2
        log = (tmp_path / "edge.log").read_text()
        assert f"the folder {folder} does not exist" in log and "configuration error" in log
        assert "Traceback" not in log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(20)


def test_example_toml_serves_its_folder(tmp_path, samples):
    port = free_port()
    env = example_env({"EDGE_SERVER__PORT": str(port), "EDGE_BUCKETS__DEMO__SOURCE": f"file://{samples}"})
    base = f"http://127.0.0.1:{port}"
    with edge_running(SERVE_EXAMPLE, port, tmp_path / "edge.log", env, cwd=ROOT, seconds=60):
        assert requests.get(base + "/demo/photo.jpg", timeout=30).status_code == 200
        for key in ("/photo.jpg@!thumb", "/photo.jpg-thumb", "/photo.jpg?x-oss-process=style/thumb"):
            response = requests.get(base + key, headers={"Host": "img.example.com"}, timeout=60)
            assert response.status_code == 200 and response.headers["Content-Type"] == "image/png", key
        assert requests.get(base + "/readyz", timeout=10).json()["status"] == "ready"


# --- links ---------------------------------------------------------------------------------------

def markdown_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).exists()]


def anchors(doc: Path) -> set[str]:
    """GitHub's anchors of the headings of `doc`."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", doc.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_every_markdown_link_resolves_inside_the_repository():
    broken = []
    for doc in markdown_files():
        text = FENCE.sub("", doc.read_text())
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            resolved = (doc.parent / path).resolve() if path else doc
            if ROOT not in resolved.parents and resolved != ROOT:
                broken.append(f"{doc.relative_to(ROOT)}: {target} points outside the repository")
            elif not resolved.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target} does not exist")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{doc.relative_to(ROOT)}: {target} names no heading")
    assert not broken, "\n".join(broken)


def test_nothing_refers_to_the_workspace_outside_the_repository():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile(r"\.\./shared\b|/work/shared\b")
    found = []
    for name in listed:
        path = ROOT / name
        if name == "tests/test_docs.py" or not path.is_file() or path.suffix in (".png", ".jpg", ".gif", ".webp"):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        found += [f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if outside.search(line)]
    assert not found, f"these refer to files outside the repository: {found}"
