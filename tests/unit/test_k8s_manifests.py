"""deploy/k8s, validated offline: every overlay rendered (``kustomize_lite``), every built-in
resource checked against the Kubernetes API's JSON schema (``kubernetes-validate``, strict:
an unknown field fails), and the custom resources (Strimzi's Kafka, KafkaNodePool,
KafkaTopic, KafkaUser; the Prometheus Operator's ServiceMonitor) against the structure this
file spells out for the fields ZTC relies on — their CRDs' schemas are not vendored here.

Beyond shape: every ZTC topic has its KafkaTopic (replicas 3, min.insync.replicas 2), every
ZTC_* key the manifests set is a real setting and the settings they make validate, every
worker kind has probes, requests and a PodDisruptionBudget, and what the pods reference
(ConfigMaps, Secrets) is made by the overlay or named as made by an operator.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from schemas.settings import Settings
from tests.unit.kustomize_lite import Built, Resource, build
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("overlays/production", "overlays/external-redis")
K8S_VERSION = "1.30.0"
"""the oldest Kubernetes still in common support (every field used exists since)"""
WORKERS = ("router", "recorder", "monitor", "alerter", "api")
MADE_ELSEWHERE = {
    ("Secret", "ztc"): "Strimzi's User Operator (the KafkaUser's SCRAM password)",
    ("Secret", "ztc-kafka-cluster-ca-cert"): "Strimzi's Cluster Operator (the cluster CA)",
    ("Secret", "ztc-web-tls"): "cert-manager or the district's CA (the Ingress certificate)",
}
LEADER_TOPIC = "ztc-router-__assignor-__leader"
STRIMZI = "kafka.strimzi.io/v1beta2"


def _object(required: list[str], properties: dict[str, Any], closed: bool = True) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": not closed,
    }


CLUSTER_LABEL = _object(
    ["labels"], {"labels": _object(["strimzi.io/cluster"], {}, closed=False)}, closed=False
)
STORAGE_VOLUME = _object(
    ["id", "type", "size"],
    {
        "id": {"type": "integer"},
        "type": {"enum": ["persistent-claim", "ephemeral"]},
        "size": {"type": "string", "pattern": r"^\d+[GT]i$"},
        "deleteClaim": {"type": "boolean"},
        "kraftMetadata": {"enum": ["shared"]},
    },
)
CUSTOM: dict[tuple[str, str], dict[str, Any]] = {
    (STRIMZI, "Kafka"): _object(
        ["metadata", "spec"],
        {
            "metadata": _object(
                ["annotations"],
                {
                    "annotations": _object(
                        ["strimzi.io/node-pools", "strimzi.io/kraft"],
                        {
                            "strimzi.io/node-pools": {"const": "enabled"},
                            "strimzi.io/kraft": {"const": "enabled"},
                        },
                    )
                },
                closed=False,
            ),
            "spec": _object(
                ["kafka", "entityOperator"],
                {
                    "kafka": _object(
                        ["listeners", "config"],
                        {
                            "version": {"type": "string"},
                            "metadataVersion": {"type": "string"},
                            "listeners": {
                                "type": "array",
                                "minItems": 1,
                                "items": _object(
                                    ["name", "port", "type", "tls"],
                                    {
                                        "name": {"type": "string", "pattern": "^[a-z0-9]{1,11}$"},
                                        "port": {"type": "integer", "minimum": 9092},
                                        "type": {
                                            "enum": [
                                                "internal",
                                                "route",
                                                "loadbalancer",
                                                "nodeport",
                                                "ingress",
                                            ]
                                        },
                                        "tls": {"type": "boolean"},
                                        "authentication": _object(
                                            ["type"], {"type": {"enum": ["scram-sha-512", "tls"]}}
                                        ),
                                    },
                                ),
                            },
                            "authorization": _object(["type"], {"type": {"enum": ["simple"]}}),
                            "config": _object(
                                ["min.insync.replicas", "default.replication.factor"],
                                {
                                    "min.insync.replicas": {"const": 2},
                                    "default.replication.factor": {"const": 3},
                                },
                                closed=False,
                            ),
                        },
                    ),
                    "entityOperator": _object(["topicOperator", "userOperator"], {}, closed=False),
                },
            ),
        },
        closed=False,
    ),
    (STRIMZI, "KafkaNodePool"): _object(
        ["metadata", "spec"],
        {
            "metadata": CLUSTER_LABEL,
            "spec": _object(
                ["replicas", "roles", "storage"],
                {
                    "replicas": {"type": "integer", "minimum": 3},
                    "roles": {"type": "array", "minItems": 1, "items": {"enum": ["controller", "broker"]}},
                    "storage": _object(
                        ["type", "volumes"],
                        {"type": {"const": "jbod"}, "volumes": {"type": "array", "items": STORAGE_VOLUME}},
                    ),
                    "resources": {"type": "object"},
                },
            ),
        },
        closed=False,
    ),
    (STRIMZI, "KafkaTopic"): _object(
        ["metadata", "spec"],
        {
            "metadata": CLUSTER_LABEL,
            "spec": _object(
                ["topicName", "partitions", "replicas", "config"],
                {
                    "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
                    "partitions": {"type": "integer", "minimum": 1},
                    "replicas": {"const": 3},
                    "config": _object(
                        ["min.insync.replicas", "retention.ms"],
                        {
                            "min.insync.replicas": {"const": 2},
                            "retention.ms": {"type": "integer", "minimum": 86_400_000},
                            "cleanup.policy": {"enum": ["delete", "compact"]},
                        },
                    ),
                },
            ),
        },
        closed=False,
    ),
    (STRIMZI, "KafkaUser"): _object(
        ["metadata", "spec"],
        {
            "metadata": CLUSTER_LABEL,
            "spec": _object(
                ["authentication", "authorization"],
                {
                    "authentication": _object(["type"], {"type": {"const": "scram-sha-512"}}),
                    "authorization": _object(
                        ["type", "acls"],
                        {
                            "type": {"const": "simple"},
                            "acls": {
                                "type": "array",
                                "items": _object(
                                    ["resource", "operations"],
                                    {
                                        "resource": _object(
                                            ["type"],
                                            {
                                                "type": {"enum": ["topic", "group", "cluster"]},
                                                "name": {"type": "string"},
                                                "patternType": {"enum": ["literal", "prefix"]},
                                            },
                                        ),
                                        "operations": {"type": "array", "items": {"type": "string"}},
                                    },
                                ),
                            },
                        },
                    ),
                },
            ),
        },
        closed=False,
    ),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _object(
        ["spec"],
        {
            "spec": _object(
                ["selector", "endpoints"],
                {
                    "selector": _object(["matchLabels"], {"matchLabels": {"type": "object"}}),
                    "endpoints": {
                        "type": "array",
                        "items": _object(
                            ["port"], {"port": {"type": "string"}, "path": {"type": "string"}, "interval": {}}
                        ),
                    },
                },
            )
        },
        closed=False,
    ),
}


def rendered(which: str) -> Built:
    return build(K8S / which)


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> Built:
    return rendered(str(request.param))


def test_every_built_in_resource_matches_the_kubernetes_schema_strictly(overlay: Built) -> None:
    problems = []
    for resource in overlay.resources:
        if (resource["apiVersion"], resource["kind"]) in CUSTOM:
            continue
        try:
            kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
            problems.append(f"{resource['kind']}/{resource['metadata']['name']}: {exc}")
    assert problems == []


def test_every_custom_resource_has_the_structure_its_operator_expects(overlay: Built) -> None:
    customs = [r for r in overlay.resources if (r["apiVersion"], r["kind"]) in CUSTOM]
    assert {r["kind"] for r in customs} >= {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}
    for resource in customs:
        jsonschema.validate(resource, CUSTOM[(resource["apiVersion"], resource["kind"])])


def test_the_validators_catch_a_wrong_field() -> None:
    deployment = rendered("overlays/production").find("Deployment", "ztc-router")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    topic = rendered("base").of_kind("KafkaTopic")[0]
    topic["spec"]["replicas"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(topic, CUSTOM[(STRIMZI, "KafkaTopic")])


def test_every_ztc_topic_has_its_kafka_topic_and_the_partitions_the_settings_say() -> None:
    base = rendered("base")
    policy = load_checked_policy(DEFAULT_POLICY)
    wanted = {*Settings().topics.all(policy.department_codes), LEADER_TOPIC}
    topics = {t["spec"]["topicName"]: t for t in base.of_kind("KafkaTopic")}
    assert set(topics) == wanted
    cluster = base.of_kind("Kafka")[0]["metadata"]["name"]
    assert {t["metadata"]["labels"]["strimzi.io/cluster"] for t in topics.values()} == {cluster}
    partitions = int(base.find("ConfigMap", "ztc-settings")["data"]["ZTC_PARTITIONS"])
    assert all(t["spec"]["partitions"] == partitions for n, t in topics.items() if n != LEADER_TOPIC)
    pools = base.of_kind("KafkaNodePool")
    assert {role for p in pools for role in p["spec"]["roles"]} == {"controller", "broker"}


def _settings_env(built: Built) -> dict[str, str]:
    env = dict(built.find("ConfigMap", "ztc-settings")["data"])
    for deployment in built.of_kind("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for item in container.get("env", []):
                if item["name"].startswith("ZTC_"):
                    env[item["name"]] = item.get("value", "from-a-secret")
    return env


def test_every_setting_the_manifests_give_is_a_real_one_and_they_validate(overlay: Built) -> None:
    env = _settings_env(overlay)
    known = {Settings.variable(name) for name in Settings.model_fields}
    assert set(env) - known == set()
    settings = Settings.from_env(env)
    assert settings.kafka_security_protocol == "SASL_SSL" and settings.replication_factor == 3
    assert settings.redis_sentinels or (settings.redis_url or "").startswith("rediss://")


def _pod(built: Built, kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = built.find("Deployment", f"ztc-{kind}")["spec"]["template"]["spec"]
    return spec


def test_every_worker_kind_has_probes_requests_a_budget_and_runs_unprivileged(overlay: Built) -> None:
    partitions = int(overlay.find("ConfigMap", "ztc-settings")["data"]["ZTC_PARTITIONS"])
    for kind in WORKERS:
        deployment = overlay.find("Deployment", f"ztc-{kind}")
        pod = _pod(overlay, kind)
        [container] = pod["containers"]
        assert container["args"] == [kind] and container["image"].endswith(":0.1.0")
        assert {"livenessProbe", "readinessProbe", "startupProbe"} <= container.keys()
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
        assert (
            pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
        )
        budget = overlay.find("PodDisruptionBudget", f"ztc-{kind}")
        assert budget["spec"]["selector"] == deployment["spec"]["selector"]
        if kind in ("router", "recorder"):
            assert deployment["spec"]["replicas"] <= partitions, "a worker beyond the partitions idles"
        if kind != "api":
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true"


def _references(resource: Resource) -> set[tuple[str, str]]:
    text = repr(resource)
    secrets = set(re.findall(r"'secretName': '([^']+)'", text)) | {
        m for m in re.findall(r"'secretKeyRef': \{'name': '([^']+)'", text)
    }
    maps = set(re.findall(r"'configMap(?:Ref)?': \{'name': '([^']+)'", text))
    return {("Secret", s) for s in secrets} | {("ConfigMap", m) for m in maps}


def test_everything_a_pod_or_ingress_references_is_made_by_the_overlay_or_an_operator(overlay: Built) -> None:
    made = {(r["kind"], r["metadata"]["name"]) for r in overlay.resources}
    wanted = set().union(*(_references(r) for r in overlay.resources if r["kind"] != "Kafka"))
    assert wanted - made - set(MADE_ELSEWHERE) == set()
    ingress = overlay.of_kind("Ingress")[0]
    assert ingress["spec"]["tls"][0]["secretName"] == "ztc-web-tls"


def test_secret_files_are_kept_out_of_git(overlay: Built) -> None:
    for path in overlay.missing_secret_files:
        assert path.parent.name == "secrets"
        ignore = (path.parent.parent / ".gitignore").read_text(encoding="utf-8").split()
        assert "secrets/" in ignore


def test_the_policy_config_map_is_the_default_policy_with_the_images_model() -> None:
    shipped = DEFAULT_POLICY.read_text(encoding="utf-8").splitlines()
    in_cluster = (K8S / "base" / "ztc" / "policy" / "policy.toml").read_text(encoding="utf-8").splitlines()
    differing = [(a, b) for a, b in zip(shipped, in_cluster, strict=True) if a != b]
    assert len(differing) == 1 and differing[0][0] == 'model = "default-model.json"'
    dockerfile = (ROOT / "deploy" / "container" / "Dockerfile").read_text(encoding="utf-8")
    python = re.search(r"python:(\d+\.\d+)\.", dockerfile)
    assert python is not None
    expected = (
        f'model = "/opt/ztc/lib/python{python.group(1)}/site-packages/deploy/policy/default-model.json"'
    )
    assert differing[0][1].startswith(expected)
