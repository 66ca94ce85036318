"""The Helm chart, checked without helm: valid YAML, values that exist, and facts that agree with the app.

helm is not installed here, so the templates are read structurally: template actions are
blanked out and the rest must parse as YAML; every `.Values` path must exist in values.yaml;
probes, ingress paths and alert expressions must name what the service really serves and
exports; the user and writable paths must match the Dockerfile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import yaml
from prometheus_client import REGISTRY

from service.app import build_app
from service.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "incidentd"
_ACTION = re.compile(r"\{\{-?.*?-?\}\}")
_VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _template(name: str) -> str:
    return (CHART / "templates" / name).read_text()


def _values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def _blanked(text: str) -> list[Any]:
    """The template with its actions removed: lines holding only actions go, inline ones become X."""
    lines = []
    for line in text.splitlines():
        if _ACTION.sub("", line).strip() == "":
            continue
        lines.append(_ACTION.sub("X", line))
    return [doc for doc in yaml.safe_load_all("\n".join(lines)) if doc]


def test_every_template_is_yaml_once_its_actions_are_blanked() -> None:
    kinds = set()
    for path in sorted((CHART / "templates").glob("*.yaml")):
        for doc in _blanked(path.read_text()):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), path.name
            kinds.add(doc["kind"])
    assert kinds >= {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PrometheusRule",
        "Ingress",
        "ConfigMap",
    }
    assert yaml.safe_load((CHART / "Chart.yaml").read_text())["name"] == "incidentd"


def test_every_value_a_template_reads_exists_in_values_yaml() -> None:
    values = _values()
    for path in [*(CHART / "templates").glob("*.yaml"), CHART / "templates" / "_helpers.tpl"]:
        for ref in _VALUES_REF.findall(path.read_text()):
            node: Any = values
            for key in ref.strip(".").split("."):
                assert isinstance(node, dict), f"{path.name}: .Values{ref} goes below a leaf"
                assert key in node, f"{path.name}: .Values{ref} is not in values.yaml"
                node = node[key]


def test_rules_and_policies_are_mounted_apart_so_either_can_be_replaced_alone() -> None:
    deployment = _template("deployment.yaml")
    assert "mountPath: /app/rules" not in deployment, "a mount over /app/rules hides the image's policy/"
    assert "{name: rules, mountPath: /etc/incidentd/rules, readOnly: true}" in deployment
    assert "{name: policies, mountPath: /etc/incidentd/policy, readOnly: true}" in deployment
    assert "{{ if $rules }}/etc/incidentd/rules{{ else }}/app/rules{{ end }}" in deployment
    assert "{{ if $policies }}/etc/incidentd/policy{{ else }}/app/rules/policy{{ end }}" in deployment
    assert "INCIDENTD_POLICY_DIR" in deployment
    assert 'checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}' in (
        deployment
    )


def test_a_flat_rules_directory_with_the_policy_mounted_apart_passes_incidentd_check(tmp_path: Path) -> None:
    """What the chart does with a replaced rules ConfigMap: rule packs alone, policy elsewhere."""
    flat = tmp_path / "rules"
    flat.mkdir()
    for pack in (ROOT / "rules").glob("*.yaml"):
        shutil.copy(pack, flat / pack.name)
    script = Path(sys.executable).parent / "incidentd"
    base = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTD_")}
    env = {
        **base,
        "INCIDENTD_RULES_DIR": str(flat),
        "INCIDENTD_TEMPLATES_DIR": str(ROOT / "incident_templates"),
    }
    alone = subprocess.run([str(script), "check"], env=env, capture_output=True, text=True, check=False)
    assert alone.returncode == 1
    assert "policy/severities.yaml" in alone.stderr
    env["INCIDENTD_POLICY_DIR"] = str(ROOT / "rules" / "policy")
    apart = subprocess.run([str(script), "check"], env=env, capture_output=True, text=True, check=False)
    assert apart.returncode == 0, apart.stderr
    assert "configuration ok" in apart.stdout


def _app_paths() -> set[str]:
    settings = load_settings({"INCIDENTD_API_TOKENS": "t=token-123"})
    settings = msgspec.structs.replace(
        settings, rules_dir=ROOT / "rules", templates_dir=ROOT / "incident_templates", workers=False
    )
    app = build_app(settings, "postgresql://unused@127.0.0.1:1/none")
    return {route.path for route in app.routes}


def test_probes_and_ingress_paths_are_routes_the_service_serves() -> None:
    deployment = _template("deployment.yaml")
    probes = dict(
        re.findall(r"(startupProbe|livenessProbe|readinessProbe):\n\s+httpGet: \{path: (\S+),", deployment)
    )
    assert probes == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    paths = _app_paths()
    assert set(probes.values()) <= paths
    ingress = _values()["ingress"]
    assert ingress["enabled"] is False, "the webhooks are exposed only when asked for"
    assert set(ingress["paths"]) == {"/slack/commands", "/slack/interactions", "/webhooks/pagerduty"}
    assert set(ingress["paths"]) <= paths


def test_alerts_on_incidentd_itself_name_metrics_it_exports() -> None:
    import service.alerting.component
    import service.notifications.component
    import service.slack_commands.component  # noqa: F401 - registers their metrics

    exported = {name for metric in REGISTRY.collect() for name in [metric.name, f"{metric.name}_total"]}
    rules = _template("prometheusrule.yaml")
    named = set(re.findall(r"\bincidentd_[a-z_]+", rules))
    assert named, "the PrometheusRule names no metric"
    assert named <= exported, f"not exported: {sorted(named - exported)}"
    assert "alert: IncidentdDatabaseDown" in rules
    assert "alert: IncidentdNotificationsStuck" in rules


def test_non_root_read_only_and_every_writable_path_is_an_empty_dir() -> None:
    values = _values()
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)
    assert user is not None
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["podSecurityContext"]["runAsUser"] == int(user.group(1))
    assert values["podSecurityContext"]["runAsGroup"] == int(user.group(2))
    assert values["securityContext"]["readOnlyRootFilesystem"] is True
    assert values["securityContext"]["allowPrivilegeEscalation"] is False
    deployment = _template("deployment.yaml")
    data_dir = re.search(r"name: INCIDENTD_DATA_DIR\n\s+value: (\S+)", deployment)
    assert data_dir is not None
    assert "INCIDENTD_DATA_DIR=" + data_dir.group(1) in dockerfile
    assert f"{{name: data, mountPath: {data_dir.group(1)}}}" in deployment
    assert "{name: tmp, mountPath: /tmp}" in deployment
    assert "{name: data, emptyDir:" in deployment
    assert "{name: tmp, emptyDir:" in deployment


def test_the_disruption_budget_lets_a_drain_evict_even_a_single_replica() -> None:
    pdb = _blanked(_template("pdb.yaml"))[0]
    assert "minAvailable" not in pdb["spec"], "minAvailable: 1 with one replica blocks every eviction"
    assert _values()["podDisruptionBudget"]["maxUnavailable"] >= 1


def test_service_monitor_carries_the_labels_prometheus_selects_on() -> None:
    monitor = _template("servicemonitor.yaml")
    assert "{{- with .Values.serviceMonitor.labels }}" in monitor
    assert _values()["serviceMonitor"]["labels"] == {}
