"""The image's tests: the image that `make image` builds, run with podman.

`make test-image` builds the image and names it in MEM0STACK_TEST_IMAGE; without that
variable this folder is not collected, so the plain pytest run of `make test` neither builds
nor starts containers. Where podman cannot run containers (not installed and not
installable, or no permission), every test here is skipped and says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.deploy.containers import GRPCURL
from tests.support.servers import REPO

if not os.environ.get("MEM0STACK_TEST_IMAGE"):
    collect_ignore_glob = ["test_*.py"]

# crun fails on this kind of machine and root cannot raise rlimits: deploy/image explains.
os.environ.setdefault("CONTAINERS_CONF", str(REPO / "deploy" / "image" / "containers.conf"))


def _podman_cannot_run() -> str | None:
    """Why podman cannot run a container here, or None when it can."""
    if shutil.which("podman") is None:
        return "podman is not installed (make test-image installs it with apt-get, as root)"
    check = subprocess.run(["podman", "info"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        said = check.stderr.strip().splitlines() or [f"podman info exited {check.returncode}"]
        return f"podman cannot run here: {said[-1]}"
    return None


@pytest.fixture(scope="session")
def image() -> str:
    """The image under test, known to exist and to be runnable by podman here."""
    reason = _podman_cannot_run()
    if reason:
        pytest.skip(reason)
    name = os.environ["MEM0STACK_TEST_IMAGE"]
    exists = subprocess.run(["podman", "image", "exists", name], check=False)
    assert exists.returncode == 0, f"no image {name}: build it with `make image`"
    # Whether this machine can run a container at all (runtime, permissions), apart from
    # anything in the image: /bin/true instead of its entry point.
    trial = subprocess.run(
        ["podman", "run", "--rm", "--network=host", "--entrypoint", "/bin/true", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if trial.returncode != 0:
        pytest.skip(f"podman cannot run containers here: {trial.stderr.strip()[-500:]}")
    assert GRPCURL.exists(), "grpcurl is missing: make gateway-tools"
    return name
