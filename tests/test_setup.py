"""The set-up the README leads with: `.ci/run` runs exactly its first command (less the serving)
and its test command, with no package list of its own; the one package list,
debian-packages.txt, covers what the product and the tests need; and on this machine the
set-up has run, so no test can pass by skipping what it installs."""

from __future__ import annotations

import re
import subprocess

from conftest import ROOT
from edge import fonts

SERVE = " && .venv/bin/edge serve"


def readme_commands() -> list[str]:
    """The commands of the README's first code block, without their comments."""
    block = re.search(r"^```sh\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)[1]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def ci_lines() -> list[str]:
    return [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def debian_packages() -> dict[str, str]:
    """debian-packages.txt: package -> its "already there" check (may be empty)."""
    packages = {}
    for line in (ROOT / "debian-packages.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, check = line.partition(" ")
            packages[name] = check.strip()
    return packages


def test_the_readme_leads_with_set_up_and_serve_then_test():
    set_up_and_serve, test = readme_commands()
    assert set_up_and_serve.endswith(SERVE) and set_up_and_serve.startswith("./setup.sh")
    assert test == ".venv/bin/pytest"


def test_ci_runs_the_readme_commands_and_no_list_of_its_own():
    set_up_and_serve, test = readme_commands()
    lines = ci_lines()
    assert set_up_and_serve.removesuffix(SERVE) in lines
    assert any(line.startswith(test) and "-m slow" not in line for line in lines)
    assert lines.index(set_up_and_serve.removesuffix(SERVE)) < min(
        i for i, line in enumerate(lines) if line.startswith(test) or "pytest" in line)
    text = (ROOT / ".ci" / "run").read_text()
    assert "apt-get" not in text and "pip install" not in text, ".ci/run must set up only through ./setup.sh"


def test_the_package_list_covers_the_fonts_and_the_servers_the_tests_start():
    packages = debian_packages()
    for _, package in fonts.FONTS.values():
        assert package in packages, f"{package} (edge/fonts.py) is not in debian-packages.txt"
    for needed in ("nginx-light", "redis-server", "curl", "wrk", "gifsicle", "nodejs", "npm", "python3-venv"):
        assert needed in packages


def test_every_package_of_the_list_is_installed_here():
    """Fails (rather than letting tests skip) on a machine where ./setup.sh has not run."""
    missing = []
    for package, check in debian_packages().items():
        if check and subprocess.run(["bash", "-c", check], capture_output=True,
                                    env={"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                                         "PYTHON": "python3"}).returncode == 0:
            continue
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        if not status.stdout.endswith(" installed"):
            missing.append(package)
    assert not missing, f"run ./setup.sh: {missing} are not installed"


def test_setup_script_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(ROOT / "setup.sh")]).returncode == 0
