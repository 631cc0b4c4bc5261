"""modules/catalog evaluated by terraform itself (it needs no provider, so it runs offline):
what Terraform derives from infra/topology.yaml and infra/services.yaml is what the Python
platform kit derives from them, and every task role is least privilege."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_support import INFRA, TERRAFORM

from shared.topology import dlq_name, load_topology

PREFIX = "regatta-test-"
REGION = "eu-west-1"
ACCOUNT = "123456789012"


def evaluate(terraform: str, env: dict[str, str], workdir: Path, services_file: Path,
             topology_file: Path = INFRA / "topology.yaml") -> subprocess.CompletedProcess:
    """terraform init + apply of a root that only calls modules/catalog; outputs in JSON."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "main.tf").write_text(f"""
module "catalog" {{
  source        = "{TERRAFORM / 'modules' / 'catalog'}"
  topology_file = "{topology_file}"
  services_file = "{services_file}"
  name_prefix   = "{PREFIX}"
  region        = "{REGION}"
  account_id    = "{ACCOUNT}"
}}

output "catalog" {{
  value = module.catalog
}}
""")
    for command in (["init", "-input=false", "-no-color", "-backend=false"],
                    ["apply", "-auto-approve", "-input=false", "-no-color"],
                    ["output", "-json", "catalog"]):
        result = subprocess.run([terraform, *command], cwd=workdir, env=env, capture_output=True,
                                text=True, timeout=120, check=False)
        if result.returncode != 0:
            return result
    return result


@pytest.fixture(scope="module")
def catalog(terraform_bin: str, terraform_env: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The catalog module's outputs for the repository's two files."""
    workdir = tmp_path_factory.mktemp("catalog")
    result = evaluate(terraform_bin, terraform_env, workdir, INFRA / "services.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(result.stdout))


def arn(kind: str, name: str) -> str:
    return {
        "sns": f"arn:aws:sns:{REGION}:{ACCOUNT}:{PREFIX}{name}",
        "sqs": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{PREFIX}{name}",
        "table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PREFIX}{name}",
        "s3": f"arn:aws:s3:::{PREFIX}{name}",
    }[kind]


def test_catalog_names_every_resource_as_the_platform_kit_does(catalog: dict[str, Any]) -> None:
    """Same resources, same physical names (prefix + logical), same DLQ names as
    shared/topology.py, which the services and the local provisioner use."""
    topology = load_topology()
    for kind in ("topics", "queues", "tables", "buckets"):
        assert set(catalog[kind]) == set(getattr(topology, kind)), kind
        for name, entry in catalog[kind].items():
            assert entry["physical"] == f"{PREFIX}{name}"
            assert entry["owner"] == getattr(topology, kind)[name].owner
    for name, queue in catalog["queues"].items():
        declared = topology.queues[name]
        assert queue["dlq"] == dlq_name(name)
        assert queue["dlq_physical"] == f"{PREFIX}{dlq_name(name)}"
        assert (queue["fifo"], queue["visibility_timeout"], queue["max_receive_count"]) == (
            declared.fifo, declared.visibility_timeout, declared.max_receive_count)
        assert queue["sender_topic_arns"] == [arn("sns", s.topic) for s in declared.subscriptions]
        assert queue["sender_bucket_arns"] == [arn("s3", s.bucket) for s in declared.sources]


def test_only_the_dlqs_a_worker_drains_are_marked_drained(
    catalog: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """`dlq_drained` (which switches the queue's DLQ alarm to counting receives) is set for
    exactly the queues some worker lists under `dead_letters`."""
    drained = {q for s in services.values() for q in s.get("worker", {}).get("dead_letters", [])}
    assert drained
    assert {name for name, q in catalog["queues"].items() if q["dlq_drained"]} == drained


def test_subscriptions_filter_as_the_provisioner_does(catalog: dict[str, Any]) -> None:
    """One subscription per (topic, queue), filtering on the sorted `type` list, exactly
    the policy devkit/provision.py sets locally."""
    topology = load_topology()
    expected = {f"{s.topic}->{q}": {"type": sorted(s.event_types)}
                for q, queue in topology.queues.items() for s in queue.subscriptions}
    assert {k: json.loads(v["filter_policy"]) for k, v in catalog["subscriptions"].items()} \
        == expected


def test_table_keys_keep_their_types(catalog: dict[str, Any]) -> None:
    """Key attribute types survive yamldecode (YAML 1.1 reads a bare N as false)."""
    topology = load_topology()
    for name, table in topology.tables.items():
        keys = [table.hash_key, table.range_key] + [
            k for ix in table.indexes.values() for k in (ix.hash_key, ix.range_key)]
        expected = {k.name: k.type for k in keys if k is not None}
        assert catalog["tables"][name]["attributes"] == expected, name
        assert catalog["tables"][name]["ttl"] == table.ttl
        assert set(catalog["tables"][name]["indexes"]) == set(table.indexes)


def test_bucket_cors_is_the_models(catalog: dict[str, Any]) -> None:
    """Each bucket's CORS rule reaches the data module as the Cors model reads it, defaults
    included: exposed response headers (the media source's ETag, which a browser needs to
    complete a multipart upload) or none."""
    topology = load_topology()
    for name, bucket in topology.buckets.items():
        expected = None if bucket.cors is None else bucket.cors.model_dump()
        assert catalog["buckets"][name]["cors"] == expected, name
    assert catalog["buckets"]["media-source"]["cors"]["expose_headers"] == ["ETag"]
    assert catalog["buckets"]["media-output"]["cors"]["expose_headers"] == []


def test_processes_are_each_api_and_each_worker(catalog: dict[str, Any],
                                                services: dict[str, dict[str, Any]]) -> None:
    """An ECS service per API and per worker, a stop timeout covering the drain, and the
    outbox relay (which the worker's health check names) where the worker writes its
    service's outbox table."""
    expected = {f"{n}-api": {"service": n, "kind": "api"} for n in services}
    expected |= {f"{n}-worker": {"service": n, "kind": "worker"}
                 for n, s in services.items() if "worker" in s}
    assert catalog["processes"] == expected
    for name, svc in catalog["worker_services"].items():
        worker = svc["worker"]
        assert worker["drain_seconds"] < worker["stop_timeout"] <= 120, name
        assert worker["relay"] is (f"{name}-outbox" in services[name]["worker"].get(
            "tables", {})), name
    relays = {name for name, svc in catalog["worker_services"].items() if svc["worker"]["relay"]}
    assert "recipes" in relays and "insights" not in relays


def process_spec(services: dict[str, dict[str, Any]], process: str) -> dict[str, Any]:
    """services.yaml's api: or worker: section of "<service>-api" / "<service>-worker", or the
    schedules: entry of a scheduled task "<service>-<task>"."""
    for name, svc in services.items():
        for task, spec in svc.get("schedules", {}).items():
            if process == f"{name}-{task}":
                return dict(spec)
    service, _, kind = process.rpartition("-")
    return dict(services[service][kind])


CONSUME_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}


def test_each_process_has_its_own_task_role(catalog: dict[str, Any]) -> None:
    """One set of task role statements per ECS process, none shared by an API and a worker,
    and one per scheduled task (handed to modules/iam as one more process, kind schedule)."""
    roles = set(catalog["processes"]) | set(catalog["schedules"])
    assert not set(catalog["processes"]) & set(catalog["schedules"])
    assert set(catalog["task_statements"]) == set(catalog["process_access"]) == roles
    for name, p in catalog["process_access"].items():
        expected = catalog["processes"].get(name) or {
            "service": catalog["schedules"][name]["service"], "kind": "schedule"}
        assert (p["service"], p["kind"]) == (expected["service"], expected["kind"]), name


def test_task_roles_grant_only_the_services_own_resources(
    catalog: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """Each process's task role names no wildcard action and only ARNs of resources its
    service owns: its tables (and their indexes), buckets, topics, queues; and exactly what
    services.yaml declares for that process."""
    topology = load_topology()
    for name, statements in catalog["task_statements"].items():
        service = catalog["process_access"][name]["service"]
        owned = topology.owned_by(service)
        allowed = {arn("table", t) for t in owned["tables"]}
        allowed |= {f"{a}/index/*" for a in allowed}
        allowed |= {arn("s3", b) for b in owned["buckets"]}
        allowed |= {f"{arn('s3', b)}/*" for b in owned["buckets"]}
        allowed |= {arn("sns", t) for t in owned["topics"]}
        allowed |= {arn("sqs", q) for q in owned["queues"]}
        allowed |= {arn("sqs", dlq_name(q)) for q in owned["queues"]}
        sids = [s["sid"] for s in statements]
        assert len(sids) == len(set(sids)), name
        for statement in statements:
            assert statement["actions"] and all("*" not in a for a in statement["actions"])
            assert set(statement["resources"]) <= allowed, (name, statement)
        by_sid = {s["sid"]: s for s in statements}
        spec = process_spec(services, name)
        assert set(by_sid.get("Publish", {}).get("resources", [])) == {
            arn("sns", t) for t in spec.get("publishes", [])}
        consumed = set(spec.get("queues", [])) if name.endswith("-worker") else set()
        assert set(by_sid.get("Consume", {}).get("resources", [])) == {
            arn("sqs", q) for q in consumed} | {
            arn("sqs", dlq_name(q)) for q in spec.get("dead_letters", [])}
        assert set(by_sid.get("Send", {}).get("resources", [])) == {
            arn("sqs", q) for q in spec.get("sends_to", [])}
        granted_tables = {r for s in statements if s["sid"].startswith("Tables")
                          for r in s["resources"] if not r.endswith("/index/*")}
        assert granted_tables == {arn("table", t) for t in spec.get("tables", {})}
        granted_buckets = set(by_sid.get("BucketsList", {}).get("resources", []))
        assert granted_buckets == {arn("s3", b) for b in spec.get("buckets", {})}


def granted(statements: list[dict[str, Any]], action: str) -> set[str]:
    """The resources a role's statements grant `action` on."""
    return {r for s in statements if action in s["actions"] for r in s["resources"]}


def test_no_api_role_consumes_a_queue(catalog: dict[str, Any]) -> None:
    """An internet-facing API may send to its own queue at most: no API role receives,
    deletes or hides (changes the visibility of) a message of any queue or DLQ. Every
    worker can consume its queues, so the check is not vacuous."""
    apis = {n for n, p in catalog["processes"].items() if p["kind"] == "api"}
    workers = set(catalog["processes"]) - apis
    assert apis and workers
    for name in apis:
        for action in CONSUME_ACTIONS:
            assert not granted(catalog["task_statements"][name], action), (name, action)
    consumers = {n for n in workers if catalog["processes"][n]["kind"] == "worker"
                 and catalog["services"][catalog["processes"][n]["service"]]["worker"]["queues"]}
    assert consumers
    for name in consumers:
        assert granted(catalog["task_statements"][name], "sqs:ReceiveMessage"), name
        assert granted(catalog["task_statements"][name], "sqs:DeleteMessage"), name


def test_objects_are_deleted_only_where_a_route_deletes_them(
    catalog: dict[str, Any], root: Path
) -> None:
    """s3:DeleteObject is granted to exactly three roles on one bucket each: the media-jobs
    API on its output bucket, for the admins' DELETE /media/jobs/{guid}, which deletes a job's
    renditions, and the insights worker and scheduled compaction on the lake, whose
    compaction deletes the curated files a merged file replaced (never a raw object). No
    worker deletes media, and nothing deletes an upload or the stock archive."""
    deleters = {(name, resource) for name, statements in catalog["task_statements"].items()
                for resource in granted(statements, "s3:DeleteObject")}
    assert deleters == {("media-jobs-api", f"{arn('s3', 'media-output')}/*"),
                        ("insights-worker", f"{arn('s3', 'insights-lake')}/*"),
                        ("insights-compact", f"{arn('s3', 'insights-lake')}/*")}
    insights = root / "services/insights"
    deleting = {p.relative_to(insights).as_posix() for p in insights.rglob("*.py")
                if "delete_object" in p.read_text()}
    assert deleting == {"lake/compaction.py"}, "another insights path deletes lake objects"
    assert re.search(r"for old in live:.*\n.*delete_object\(Bucket=self\.bucket, Key=old\.key\)",
                     (insights / "lake/compaction.py").read_text()), \
        "the compaction deletes something other than the curated files it merged"
    api = (root / "services/media_jobs/api.py").read_text()
    assert re.search(r'@router\.delete\("/jobs/\{guid\}"[\s\S]+?outputs\.delete_outputs\(',
                     api), "the API no longer deletes outputs: drop its delete right"
    media = root / "services/media_jobs"
    worker_code = "\n".join(p.read_text() for p in media.rglob("*.py")
                            if p.relative_to(media).as_posix() not in ("api.py",
                                                                       "store/outputs.py"))
    assert "delete_outputs(" not in worker_code, "a worker path deletes outputs now"
    # Only the owner's roles touch a bucket at all.
    topology = load_topology()
    for name, statements in catalog["task_statements"].items():
        service = catalog["process_access"][name]["service"]
        for statement in statements:
            for resource in statement["resources"]:
                if resource.startswith("arn:aws:s3:::"):
                    bucket = resource.removeprefix(f"arn:aws:s3:::{PREFIX}").split("/")[0]
                    assert topology.buckets[bucket].owner == service, (name, resource)


def test_read_access_cannot_write(catalog: dict[str, Any]) -> None:
    """The read level grants no Put, Update, Delete or Write action."""
    text = (TERRAFORM / "modules/catalog/main.tf").read_text()
    read_line = next(line for line in text.splitlines() if line.strip().startswith("read  = [\"dy"))
    assert not any(word in read_line for word in ("Put", "Update", "Delete", "Write"))


def test_a_service_claiming_anothers_table_is_refused(
    terraform_bin: str, terraform_env: dict[str, str], tmp_path: Path
) -> None:
    """The catalog's precondition stops a plan when services.yaml grants a service a
    resource it does not own, or one that does not exist."""
    doc = yaml.safe_load((INFRA / "services.yaml").read_text())
    doc["services"]["recipes"]["api"]["tables"]["meetings"] = "read"
    doc["services"]["trend"]["worker"]["publishes"].append("no-such-topic")
    doc["services"]["trend"]["worker"]["dead_letters"] = ["recipes-search-index"]
    doc["services"]["media-jobs"]["api"]["buckets"]["media-output"] = ["read", "erase"]
    doc["services"]["media-jobs"]["api"]["queues"] = ["media-jobs-uploads"]
    services_file = tmp_path / "services.yaml"
    services_file.write_text(yaml.safe_dump(doc))
    result = evaluate(terraform_bin, terraform_env, tmp_path / "root", services_file)
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert "recipes-api: table meetings is owned by meetings" in message
    assert "trend-worker: topic no-such-topic is not in the topology" in message
    assert ("trend-worker: dead letters of recipes-search-index, a queue its worker does not "
            "consume" in message)
    assert ("media-jobs-api: bucket media-output: access read, erase is not a list of read, "
            "write, tag, delete" in message)
    assert "media-jobs-api: an API consumes no queue (a worker does)" in message


def test_catalog_follows_a_new_queue(terraform_bin: str, terraform_env: dict[str, str],
                                     tmp_path: Path) -> None:
    """Adding a queue to the topology is the whole change: it gets a DLQ and its senders."""
    doc = yaml.safe_load((INFRA / "topology.yaml").read_text())
    doc["queues"]["audit-log.fifo"] = {
        "owner": "recipes", "fifo": True,
        "subscriptions": [{"topic": "stock-ticks.fifo", "event_types": ["x.v1"]}]}
    topology_file = tmp_path / "topology.yaml"
    topology_file.write_text(yaml.safe_dump(doc))
    shutil.copy(INFRA / "services.yaml", tmp_path / "services.yaml")
    result = evaluate(terraform_bin, terraform_env, tmp_path / "root", tmp_path / "services.yaml",
                      topology_file)
    assert result.returncode == 0, result.stderr
    queue = json.loads(result.stdout)["queues"]["audit-log.fifo"]
    assert queue["dlq_physical"] == f"{PREFIX}audit-log-dlq.fifo"
    assert (queue["visibility_timeout"], queue["max_receive_count"]) == (30, 5)
    assert queue["sender_topic_arns"] == [arn("sns", "stock-ticks.fifo")]


# --- lakes and scheduled tasks (services.yaml lake: and schedules:) ------------------------

LAKE_SERVICE = "lakeside"


def with_lake_service(tmp_path: Path, *, raw_rule: bool = False,
                      schedule: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Copies of the two files with a service that has a lake bucket, a state table, a
    worker and a scheduled compaction, as the insights service declares them."""
    topology = yaml.safe_load((INFRA / "topology.yaml").read_text())
    services = yaml.safe_load((INFRA / "services.yaml").read_text())
    bucket: dict[str, Any] = {"owner": LAKE_SERVICE}
    if raw_rule:
        bucket["lifecycle"] = [{"id": "raw-cold", "prefix": "raw/", "transitions": [
            {"days": 60, "storage_class": "STANDARD_IA"}]}]
    topology["buckets"][f"{LAKE_SERVICE}-lake"] = bucket
    topology["tables"][f"{LAKE_SERVICE}-state"] = {
        "owner": LAKE_SERVICE, "hash_key": {"name": "pk", "type": "S"},
        "range_key": {"name": "sk", "type": "S"}}
    services["services"][LAKE_SERVICE] = {
        "package": LAKE_SERVICE, "prefix": f"/{LAKE_SERVICE}", "port": 8099,
        "api": {"command": ["uvicorn", f"services.{LAKE_SERVICE}.main:app", "--host", "0.0.0.0",
                            "--port", "8099"], "buckets": {f"{LAKE_SERVICE}-lake": ["write"]}},
        "worker": {"command": ["python", "-m", f"services.{LAKE_SERVICE}.worker"], "queues": [],
                   "buckets": {f"{LAKE_SERVICE}-lake": ["write"]}},
        "lake": {"bucket": f"{LAKE_SERVICE}-lake"},
        "schedules": {"compact": schedule or {
            "command": ["python", "-m", f"services.{LAKE_SERVICE}.compact"], "every": "5 minutes",
            "tables": {f"{LAKE_SERVICE}-state": "write"},
            "buckets": {f"{LAKE_SERVICE}-lake": ["read", "write"]}}},
    }
    (tmp_path / "topology.yaml").write_text(yaml.safe_dump(topology))
    (tmp_path / "services.yaml").write_text(yaml.safe_dump(services))
    return tmp_path / "services.yaml", tmp_path / "topology.yaml"


@pytest.fixture(scope="module")
def lake_catalog(terraform_bin: str, terraform_env: dict[str, str],
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The catalog's outputs for the files plus a service with a lake and a schedule."""
    directory = tmp_path_factory.mktemp("lake-catalog")
    services_file, topology_file = with_lake_service(directory)
    result = evaluate(terraform_bin, terraform_env, directory / "root", services_file,
                      topology_file)
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(result.stdout))


def test_a_schedule_runs_its_services_task_definition_with_its_own_command(
    lake_catalog: dict[str, Any]
) -> None:
    """`schedules:` gives one scheduled task per entry, "<service>-<task>", running the
    worker's task definition (the same image) with the declared command at the declared
    rate; it is no ECS service, and modules/iam builds its task role as one more process's
    (kind schedule)."""
    assert lake_catalog["schedules"][f"{LAKE_SERVICE}-compact"] == {
        "service": LAKE_SERVICE, "task": "compact",
        "command": ["python", "-m", f"services.{LAKE_SERVICE}.compact"],
        "schedule_expression": "rate(5 minutes)", "process": f"{LAKE_SERVICE}-worker"}
    assert f"{LAKE_SERVICE}-compact" not in lake_catalog["processes"]
    access = lake_catalog["process_access"][f"{LAKE_SERVICE}-compact"]
    assert (access["service"], access["kind"]) == (LAKE_SERVICE, "schedule")
    assert not access["sends_mail"] and not access["queues"] and not access["publishes"]


def test_a_scheduled_task_role_is_exactly_its_declared_access(
    lake_catalog: dict[str, Any]
) -> None:
    """The compaction may read and write its lake's objects and its state table: nothing
    else (no delete, no queue, no topic), and none of it is added to the API's or the
    worker's roles."""
    statements = {s["sid"]: s for s in lake_catalog["task_statements"][
        f"{LAKE_SERVICE}-compact"]}
    lake = arn("s3", f"{LAKE_SERVICE}-lake")
    assert set(statements) == {"TablesWrite", "BucketsList", "ObjectsRead", "ObjectsWrite"}
    assert statements["BucketsList"]["resources"] == [lake]
    assert statements["ObjectsRead"]["resources"] == statements["ObjectsWrite"]["resources"] \
        == [f"{lake}/*"]
    assert statements["TablesWrite"]["resources"] == [
        arn("table", f"{LAKE_SERVICE}-state"), f"{arn('table', f'{LAKE_SERVICE}-state')}/index/*"]
    assert not granted(list(statements.values()), "s3:DeleteObject")
    for process in (f"{LAKE_SERVICE}-api", f"{LAKE_SERVICE}-worker"):
        assert not granted(lake_catalog["task_statements"][process], "s3:GetObject")
        assert not granted(lake_catalog["task_statements"][process], "dynamodb:PutItem")


def test_a_lake_gets_the_seeds_archive_rule_and_expiring_results(
    lake_catalog: dict[str, Any]
) -> None:
    """A lake bucket's raw/ zone moves to Infrequent Access after 30 days and to Glacier
    after 90 (the seed's rule), Athena's results/ expire; other buckets keep their rules."""
    rules = {r["id"]: r for r in lake_catalog["buckets"][f"{LAKE_SERVICE}-lake"]["lifecycle"]}
    assert set(rules) == {"raw-archive", "athena-results"}
    assert rules["raw-archive"]["prefix"] == "raw/" and rules["raw-archive"]["tag"] is None
    assert [(t["days"], t["storage_class"]) for t in rules["raw-archive"]["transitions"]] == [
        (30, "STANDARD_IA"), (90, "GLACIER")]
    assert rules["raw-archive"]["expiration"] is None
    assert (rules["athena-results"]["prefix"], rules["athena-results"]["expiration"]) == (
        "results/", 30)
    assert lake_catalog["lakes"][LAKE_SERVICE] == {
        "bucket": f"{LAKE_SERVICE}-lake", "physical": f"{PREFIX}{LAKE_SERVICE}-lake",
        "arn": arn("s3", f"{LAKE_SERVICE}-lake")}
    media = lake_catalog["buckets"]["media-source"]["lifecycle"]
    assert [(r["id"], r["prefix"], len(r["transitions"])) for r in media] == [
        ("archive-glacier", None, 1), ("archive-deep", None, 1)]


def test_a_raw_rule_the_topology_declares_replaces_the_default(
    terraform_bin: str, terraform_env: dict[str, str], tmp_path: Path
) -> None:
    """When the topology declares a rule for a lake's raw/ prefix (with `transitions`), the
    catalog adds no second one."""
    services_file, topology_file = with_lake_service(tmp_path, raw_rule=True)
    result = evaluate(terraform_bin, terraform_env, tmp_path / "root", services_file,
                      topology_file)
    assert result.returncode == 0, result.stderr
    rules = json.loads(result.stdout)["buckets"][f"{LAKE_SERVICE}-lake"]["lifecycle"]
    assert [r["id"] for r in rules] == ["raw-cold", "athena-results"]
    assert rules[0]["transitions"] == [{"days": 60, "storage_class": "STANDARD_IA"}]


def test_a_schedule_that_overreaches_is_refused(
    terraform_bin: str, terraform_env: dict[str, str], tmp_path: Path
) -> None:
    """A scheduled task that names another service's table, publishes, or runs at no valid
    rate stops the plan, saying so."""
    services_file, topology_file = with_lake_service(tmp_path, schedule={
        "command": ["python", "-m", "x"], "every": "often", "tables": {"recipes": "read"},
        "publishes": ["recipes-events"]})
    result = evaluate(terraform_bin, terraform_env, tmp_path / "root", services_file,
                      topology_file)
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert f"{LAKE_SERVICE}-compact: table recipes is owned by recipes" in message
    assert (f"{LAKE_SERVICE}-compact: a scheduled task consumes, publishes and sends nothing"
            in message)
    assert f"{LAKE_SERVICE}-compact: every must be a rate" in message


def test_a_schedule_that_sends_mail_is_refused(
    terraform_bin: str, terraform_env: dict[str, str], tmp_path: Path
) -> None:
    """modules/iam gives SES to a role whose entry sends_mail: a scheduled task may not
    declare it (its role gets only tables and buckets)."""
    services_file, topology_file = with_lake_service(tmp_path, schedule={
        "command": ["python", "-m", "x"], "every": "5 minutes", "sends_mail": True})
    result = evaluate(terraform_bin, terraform_env, tmp_path / "root", services_file,
                      topology_file)
    assert result.returncode != 0
    assert (f"{LAKE_SERVICE}-compact: a scheduled task consumes, publishes and sends nothing"
            in " ".join(result.stderr.split()))


def test_the_insights_lake_and_compaction_as_declared(catalog: dict[str, Any],
                                                      services: dict[str, dict[str, Any]]
                                                      ) -> None:
    """With insights declared: its lake is insights-lake, whose raw/ rules the topology
    declares (no second default), and its compaction runs every 5 minutes on the worker's
    task definition with read, write and delete on the lake and write on insights-state,
    nothing else."""
    if "lake" not in services.get("insights", {}):
        pytest.skip("insights declares no lake yet")
    assert catalog["lakes"]["insights"]["bucket"] == "insights-lake"
    rules = catalog["buckets"]["insights-lake"]["lifecycle"]
    raw = [(t["days"], t["storage_class"]) for r in rules if r["prefix"] == "raw/"
           for t in r["transitions"]]
    assert sorted(raw) == [(30, "STANDARD_IA"), (90, "GLACIER")]
    assert [r["id"] for r in rules if r["prefix"] == "results/"] == ["athena-results"]
    schedule = catalog["schedules"]["insights-compact"]
    assert schedule["schedule_expression"] == "rate(5 minutes)"
    assert schedule["process"] == "insights-worker"
    assert schedule["command"][:3] == ["python", "-m", "services.insights.compact"]
    statements = {st["sid"]: st for st in catalog["task_statements"]["insights-compact"]}
    assert set(statements) == {"TablesWrite", "BucketsList", "ObjectsRead", "ObjectsWrite",
                               "ObjectsDelete"}
    assert statements["TablesWrite"]["resources"][0] == arn("table", "insights-state")
    assert statements["ObjectsDelete"]["resources"] == [f"{arn('s3', 'insights-lake')}/*"]
