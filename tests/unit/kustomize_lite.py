"""Just enough of Kustomize to render deploy/k8s's overlays offline for validation (no kubectl here).

It reads ``resources`` (files and directories), ``components``, ``configMapGenerator`` /
``secretGenerator`` (files; a Secret's file that is not there — secrets are kept out of
git — is rendered with a placeholder value, its path remembered), ``patches`` (a strategic
merge by kind and name, lists of named items merged by name as Kubernetes does for
containers, env, volumes and ports; or JSON 6902 ``add`` operations on every resource a
``target`` selects by kind and label), ``replicas``, ``images``, ``namespace`` and
``labels``. It does not add generator hash suffixes (names stay as written) and fails on
any field it does not know, so a manifest using more of Kustomize makes the test say so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML, a dependency of kubernetes-validate (dev)

Resource = dict[str, Any]
KNOWN = {
    "apiVersion", "kind", "resources", "components", "configMapGenerator", "secretGenerator",
    "patches", "replicas", "images", "namespace", "labels",
}  # fmt: skip
CLUSTER_SCOPED = {"Namespace"}


@dataclass
class Built:
    resources: list[Resource] = field(default_factory=list)
    missing_secret_files: list[Path] = field(default_factory=list)

    def find(self, kind: str, name: str) -> Resource:
        found = [r for r in self.resources if r["kind"] == kind and r["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
        return found[0]

    def of_kind(self, kind: str) -> list[Resource]:
        return [r for r in self.resources if r["kind"] == kind]


def load_all(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def build(directory: Path) -> Built:
    built = Built()
    _apply(directory, built)
    return built


def _apply(directory: Path, built: Built) -> None:
    """Add what ``directory``'s kustomization makes to ``built`` (a component patches what is there)."""
    spec = load_all(directory / "kustomization.yaml")[0]
    unknown = set(spec) - KNOWN
    assert not unknown, f"{directory}: kustomize_lite does not know {unknown}"
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            inner = build(path)
            built.resources += inner.resources
            built.missing_secret_files += inner.missing_secret_files
        else:
            built.resources += load_all(path)
    for entry in spec.get("components", []):
        _apply((directory / entry).resolve(), built)
    for generator, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for generated in spec.get(generator, []):
            built.resources.append(_generated(directory, kind, generated, built))
    for patch in spec.get("patches", []):
        _patch(directory, patch, built.resources)
    _finish(spec, built.resources)


def _generated(directory: Path, kind: str, generated: dict[str, Any], built: Built) -> Resource:
    data: dict[str, str] = {}
    for item in generated["files"]:
        key, _, name = item.partition("=")
        path = directory / (name or key)
        if path.exists():
            data[key] = path.read_text(encoding="utf-8")
        elif kind == "Secret":
            built.missing_secret_files.append(path)
            data[key] = "placeholder"
        else:
            raise AssertionError(f"{path} is missing")
    body = {"stringData": data} if kind == "Secret" else {"data": data}
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": generated["name"]}, **body}


def _patch(directory: Path, patch: dict[str, Any], resources: list[Resource]) -> None:
    documents = load_all(directory / patch["path"])
    target = patch.get("target")
    if target is None:
        for document in documents:
            merge(_named(resources, document["kind"], document["metadata"]["name"]), document)
        return
    label, _, value = target.get("labelSelector", "=").partition("=")
    chosen = [
        r
        for r in resources
        if r["kind"] == target["kind"] and (not label or r["metadata"].get("labels", {}).get(label) == value)
    ]
    assert chosen, f"{patch['path']}: its target selects nothing"
    operations = documents[0] if len(documents) == 1 and isinstance(documents[0], list) else documents
    for resource in chosen:
        for operation in operations:
            _json_add(resource, operation)


def _named(resources: list[Resource], kind: str, name: str) -> Resource:
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"a patch targets {kind}/{name}, found {len(found)}"
    return found[0]


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge: maps recursively, lists of named maps by name, anything else replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        for key, value in patch.items():
            base[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return base
    named = isinstance(base, list) and isinstance(patch, list)
    if named and all(isinstance(i, dict) and "name" in i for i in [*base, *patch]):
        by_name = {item["name"]: item for item in base}
        for item in patch:
            if item["name"] in by_name:
                merge(by_name[item["name"]], item)
            else:
                base.append(copy.deepcopy(item))
        return base
    return copy.deepcopy(patch)


def _json_add(resource: Resource, operation: dict[str, Any]) -> None:
    assert operation["op"] == "add", f"kustomize_lite applies only add operations, not {operation['op']}"
    *parents, last = operation["path"].strip("/").split("/")
    node: Any = resource
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if last == "-":
        node.append(copy.deepcopy(operation["value"]))
    else:
        node[last] = copy.deepcopy(operation["value"])


def _finish(spec: dict[str, Any], resources: list[Resource]) -> None:
    for change in spec.get("replicas", []):
        _named(resources, "Deployment", change["name"])["spec"]["replicas"] = change["count"]
    images = {i["name"]: i for i in spec.get("images", [])}
    for resource in resources:
        template = resource.get("spec", {}).get("template", {}).get("spec", {})
        for container in template.get("containers", []):
            name = container["image"].rsplit(":", 1)[0]
            if name in images:
                image = images[name]
                container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
        if "namespace" in spec and resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = spec["namespace"]
        for labels in spec.get("labels", []):
            resource["metadata"].setdefault("labels", {}).update(labels["pairs"])
