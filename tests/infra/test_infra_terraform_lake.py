"""The lake's Terraform (modules/lake), the scheduled tasks (modules/schedules) and the
counter's CORS origin, read with python-hcl2 and checked against the lake layout the
insights service writes (docs/services/insights.md) and against infra/services.yaml."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from infra_support import ROOT, TerraformTree

CURATED = ("events", "platform_events", "bad_rows")


def expr(value: Any) -> str:
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def lake_locals(tf: TerraformTree) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path, doc in tf.files.items():
        if path.parent.name == "lake":
            for entry in doc.get("locals", []):
                found.update(entry)
    return found


# --- the Glue catalogue and Athena ----------------------------------------------------------


def test_every_curated_table_projects_its_days_over_the_lake_layout(tf: TerraformTree) -> None:
    """events, platform_events and bad_rows are Parquet tables over curated/<table>/ with
    partition projection on dt (a date, YYYY-MM-DD, one a day up to today): no crawler, no
    partition to add when a new day is compacted."""
    table = tf.resource("lake", "aws_glue_catalog_table", "curated")
    assert expr(table["for_each"]) == "local.curated"
    assert set(lake_locals(tf)["curated"]) == set(CURATED)
    parameters = str(table["parameters"])
    for needle in ('"projection.enabled"', '"storage.location.template"',
                   "curated/${each.key}/dt=$${dt}/", '"parquet"'):
        assert needle in parameters, needle
    projection = lake_locals(tf)["day_projection"]
    assert projection["projection.dt.type"] == "date"
    assert projection["projection.dt.format"] == "yyyy-MM-dd"
    assert projection["projection.dt.range"].endswith(",NOW")
    assert (projection["projection.dt.interval"], projection["projection.dt.interval.unit"]) \
        == ("1", "DAYS")
    assert table["partition_keys"][0]["name"] == "dt"
    storage = table["storage_descriptor"][0]
    assert storage["ser_de_info"][0]["serialization_library"].endswith("ParquetHiveSerDe")
    assert "curated/${each.key}/" in storage["location"]


def test_the_events_table_has_the_contracts_columns_and_the_geo_join(tf: TerraformTree) -> None:
    """The curated events carry every field of the collector's enriched event (never an IP
    address or a user agent) plus country_name and continent from the reference table."""
    columns = {c["name"]: c["type"] for c in lake_locals(tf)["curated"]["events"]["columns"]}
    assert {"id", "type", "name", "path", "referrer", "referrer_host", "properties",
            "timestamp", "received_at", "visitor", "country", "country_name", "continent",
            "browser", "os", "device", "bot", "site"} == set(columns)
    assert (columns["timestamp"], columns["bot"]) == ("timestamp", "boolean")
    for table in lake_locals(tf)["curated"].values():
        names = {c["name"] for c in table["columns"]}
        assert not names & {"ip", "address", "client_ip", "user_agent", "ua"}
    platform = {c["name"] for c in lake_locals(tf)["curated"]["platform_events"]["columns"]}
    assert {"id", "source", "type", "time", "subject", "data", "received_at"} == platform
    bad = {c["name"]: c["type"] for c in lake_locals(tf)["curated"]["bad_rows"]["columns"]}
    assert set(bad) == {"id", "received_at", "index", "errors", "payload"}


def test_the_raw_web_table_reads_the_collectors_gzipped_json_lines(tf: TerraformTree) -> None:
    """raw_web projects dt and hour over raw/web/dt=YYYY-MM-DD/hour=HH/, gzip JSON lines."""
    table = tf.resource("lake", "aws_glue_catalog_table", "raw_web")
    parameters = table["parameters"]
    text = str(parameters)
    assert "raw/web/dt=$${dt}/hour=$${hour}/" in text
    for needle in ('"projection.hour.type"', '"projection.hour.range"', '"0,23"',
                   '"projection.hour.digits"', '"gzip"', '"json"'):
        assert needle in text, needle
    assert table["storage_descriptor"][0]["ser_de_info"][0]["serialization_library"] \
        == "org.openx.data.jsonserde.JsonSerDe"
    columns = {c["name"] for c in lake_locals(tf)["raw_web_columns"]}
    assert "country_name" not in columns and {"visitor", "referrer_host", "bot"} <= columns


def test_the_workgroup_caps_scans_and_writes_results_to_the_lakes_results_zone(
    tf: TerraformTree
) -> None:
    """Athena's workgroup enforces its configuration (clients cannot send results elsewhere
    or lift the cap), cancels a query past the bytes cutoff, and writes encrypted results
    under results/ of the lake, where a lifecycle rule expires them."""
    workgroup = tf.resource("lake", "aws_athena_workgroup", "lake")
    config = workgroup["configuration"][0]
    assert config["enforce_workgroup_configuration"] is True
    assert expr(config["bytes_scanned_cutoff_per_query"]) == "var.bytes_scanned_cutoff"
    result = config["result_configuration"][0]
    assert result["output_location"] == "s3://${var.bucket}/results/"
    assert result["encryption_configuration"][0]["encryption_option"] == "SSE_KMS"
    cutoff = tf.named("variable", "lake")["bytes_scanned_cutoff"]
    assert cutoff["default"] <= 100 * 1024**3
    catalog = tf.text("modules/catalog/main.tf")
    assert 'prefix      = "results/"' in catalog and "expiration  = 30" in catalog


def test_the_seeds_analyst_queries_are_saved_and_prune_partitions(tf: TerraformTree) -> None:
    """The seed's queries (customer behaviour by continent, the executive summary, geographic
    analysis, user behaviour) are named queries of the workgroup; each names only the lake's
    tables and their columns and filters on dt, so that it reads only those days."""
    queries = lake_locals(tf)["queries"]
    assert {"customer-behaviour-by-continent", "executive-summary-daily",
            "geographic-analysis-by-country", "user-behaviour-top-pages",
            "user-behaviour-funnel", "business-events-per-day"} <= set(queries)
    tables = set(lake_locals(tf)["curated"]) | {"raw_web"}
    for name, query in queries.items():
        sql = query["sql"]
        assert "${local.last_7_days}" in sql or "${local.last_30_days}" in sql, name
        used = set(re.findall(r"\bFROM\s+([a-z_]+)", sql)) - {"firsts", "UNNEST"}
        assert used and used <= tables, (name, used)
        assert "user_age" not in sql, "the collector never asks for an age"
    assert "country_name" in queries["geographic-analysis-by-country"]["sql"]
    assert "continent" in queries["customer-behaviour-by-continent"]["sql"]
    for bound in (lake_locals(tf)["last_7_days"], lake_locals(tf)["last_30_days"]):
        assert bound.startswith("dt >= ")
    named = tf.resource("lake", "aws_athena_named_query", "this")
    assert expr(named["for_each"]) == "local.queries"
    assert expr(named["workgroup"]) == "aws_athena_workgroup.lake.id"


def test_each_lake_of_services_yaml_gets_the_module(tf: TerraformTree,
                                                    services: dict[str, dict[str, Any]]) -> None:
    """envs/dev instantiates modules/lake once per `lake:` of infra/services.yaml (through
    the catalog), on that service's bucket; each declared lake bucket is the service's own."""
    call = tf.module_calls()["lake"]
    assert expr(call["for_each"]) == "module.catalog.lakes"
    assert expr(call["bucket"]) == "each.value.physical"
    catalog = tf.text("modules/catalog/main.tf")
    # The lake's physical name is the one module.data gives the bucket (the catalog test
    # evaluates both).
    assert 'physical = "${var.name_prefix}${svc.lake.bucket}"' in catalog
    assert call["name"] == "${local.stack}-${each.key}"
    for name, svc in services.items():
        if "lake" in svc:
            assert svc["lake"]["bucket"] in {b for kind in ("api", "worker")
                                             for b in svc.get(kind, {}).get("buckets", {})}, name


# --- scheduled tasks ------------------------------------------------------------------------


def test_schedules_run_ecs_tasks_with_the_declared_command_and_their_own_role(
    tf: TerraformTree
) -> None:
    """Each schedule calls ECS RunTask through EventBridge Scheduler's universal target on the
    service's task definition family (its latest revision: the image the pipeline deployed),
    overriding the command and the task role, in the private subnets, without a public IP."""
    schedule = tf.resource("schedules", "aws_scheduler_schedule", "task")
    assert expr(schedule["for_each"]) == "var.schedules"
    assert expr(schedule["schedule_expression"]) == "each.value.schedule_expression"
    assert schedule["flexible_time_window"][0]["mode"] == "OFF"
    assert "kms_key_arn" in expr(schedule["kms_key_arn"])
    target = schedule["target"][0]
    assert target["arn"] == "arn:aws:scheduler:::aws-sdk:ecs:runTask"
    assert expr(target["role_arn"]) == "aws_iam_role.scheduler[each.key].arn"
    text = tf.text("modules/schedules/main.tf")
    for needle in ("TaskDefinition = var.task_definition_families[each.value.process]",
                   "TaskRoleArn = var.task_role_arns[each.key]",
                   "Name    = each.value.service", "Command = each.value.command",
                   'AssignPublicIp = "DISABLED"', "Subnets        = var.subnet_ids"):
        assert needle in text, needle
    retry = target["retry_policy"][0]
    assert retry["maximum_event_age_in_seconds"] < 300
    calls = tf.module_calls()["schedules"]
    assert expr(calls["schedules"]) == "module.catalog.schedules"
    assert expr(calls["task_role_arns"]) == "module.iam.task_role_arns"
    assert expr(calls["security_group_id"]) == "module.security.worker_security_group_id"
    assert expr(calls["subnet_ids"]) == "module.network.app_subnet_ids"


def schedule_policy(tf: TerraformTree, name: str) -> dict[str, Any]:
    return next(b for p, _, n, b in tf.blocks("data", "aws_iam_policy_document")
                if p.parent.name == "schedules" and n == name)


def test_the_scheduler_may_start_that_task_and_pass_only_its_roles(tf: TerraformTree) -> None:
    """The scheduler's role (one per schedule, assumable by EventBridge Scheduler for this
    account only) runs that family in that cluster, passes that task's role and the
    service's execution role to ECS tasks only, and does nothing else."""
    assume = schedule_policy(tf, "scheduler_assume")["statement"][0]
    assert assume["principals"][0]["identifiers"] == ["scheduler.amazonaws.com"]
    assert assume["condition"][0]["variable"] == "aws:SourceAccount"
    statements = {s["sid"]: s for s in schedule_policy(tf, "scheduler")["statement"]}
    assert set(statements) == {"RunTheTask", "TagTheTask", "PassTheTaskRoles", "ReadTheSchedule"}
    run = statements["RunTheTask"]
    assert run["actions"] == ["ecs:RunTask"]
    assert run["resources"] == ["${local.family_arn[each.key]}:*"]
    assert (run["condition"][0]["variable"], expr(run["condition"][0]["values"][0])) == (
        "ecs:cluster", "var.cluster_arn")
    passing = statements["PassTheTaskRoles"]
    assert passing["actions"] == ["iam:PassRole"]
    assert [expr(r) for r in passing["resources"]] == [
        "var.task_role_arns[each.key]", "var.execution_role_arns[each.value.service]"]
    assert passing["condition"][0]["values"] == ["ecs-tasks.amazonaws.com"]
    assert statements["TagTheTask"]["condition"][0]["values"] == ["RunTask"]
    assert expr(tf.resource("schedules", "aws_iam_role", "scheduler")["for_each"]) \
        == "var.schedules"


def test_a_scheduled_tasks_role_is_built_by_the_iam_module(tf: TerraformTree) -> None:
    """modules/schedules builds no task role of its own: modules/iam builds the scheduled
    task's, like a process's, from the catalog's statements for it (module.catalog hands it
    over as one more process), plus the key through DynamoDB and S3 (no SNS: it publishes
    nothing) and X-Ray for the collector; the pipeline may not pass it."""
    roles = [n for p, _, n, _ in tf.blocks("resource", "aws_iam_role")
             if p.parent.name == "schedules"]
    assert roles == ["scheduler"]
    assert "aws_iam_policy_document.task" not in tf.text("modules/schedules/main.tf")
    calls = tf.module_calls()
    assert expr(calls["iam"]["processes"]) == "module.catalog.process_access"
    assert expr(calls["iam"]["task_statements"]) == "module.catalog.task_statements"
    catalog = tf.text("modules/catalog/main.tf")
    assert "for key, p in merge(local.access, local.schedule_access) : key => {" in catalog
    assert "value       = local.all_access" in tf.text("modules/catalog/outputs.tf")
    policy = next(b for p, _, n, b in tf.blocks("data", "aws_iam_policy_document")
                  if p.parent.name == "iam" and n == "task")
    key = next(s for s in policy["statement"] if s["sid"] == "PlatformKeyThroughServices")
    assert 'each.value.kind == "schedule" ? [] : ["sns"]' in str(key["condition"])
    assert expr(calls["pipeline"]["pass_role_arns"]).startswith(
        "concat([for name in keys(module.catalog.processes) : module.iam.task_role_arns[name]]")


@pytest.mark.parametrize("name", ["insights"])
def test_a_declared_schedule_runs_a_module_that_exists(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    """Every scheduled command of the service is `python -m <module>` of its own package, and
    the module exists; what it looks up is declared for it, and nothing more."""
    svc = services.get(name)
    if svc is None or not svc.get("schedules"):
        pytest.skip(f"{name} declares no schedule yet (infra/services.yaml)")
    package = ROOT / "services" / svc["package"]
    for task, spec in svc["schedules"].items():
        command = spec["command"]
        assert command[:2] == ["python", "-m"], task
        module = command[2]
        assert module.startswith(f"services.{svc['package']}."), task
        path = ROOT / (module.replace(".", "/") + ".py")
        if not path.exists():
            pytest.skip(f"{path.relative_to(ROOT)} is not written yet")
        assert "every" in spec and re.fullmatch(r"[1-9]\d* (minutes?|hours?|days?)",
                                                spec["every"]), task
        assert not {"queues", "publishes", "sends_to"} & set(spec), task
        assert package.exists()


# --- the counter's CORS and the custom domain ---------------------------------------------


def test_the_site_origin_follows_the_custom_domain(tf: TerraformTree,
                                                   services: dict[str, dict[str, Any]]) -> None:
    """`site_origin`, the platform value a service's CORS setting names, is the edge's public
    base URL: https://<domain_name> once a custom domain is set (ACM in us-east-1, Route 53
    alias), the *.cloudfront.net origin before; the insights counter allows that origin."""
    values = tf.module_calls()["ecs"]["platform_values"]
    assert expr(values["site_origin"]) == "module.edge.public_base_url"
    base = tf.named("output", "edge")["public_base_url"]
    assert "local.custom_domain ? var.domain_name" in str(base["value"])
    insights = services.get("insights")
    if insights is None:
        pytest.skip("insights is not in infra/services.yaml yet")
    assert insights.get("platform_env", {}).get("INSIGHTS_CORS_ORIGINS") == "site_origin"


def test_outputs_name_the_lakes_workgroups_and_the_schedules(tf: TerraformTree) -> None:
    """The operator finds each lake's workgroup and database, and the schedules."""
    outputs = tf.named("output", "dev")
    assert {"lake_athena", "schedules"} <= set(outputs)
    assert "module.lake" in json.dumps(outputs["lake_athena"])


GLUE_TYPES = {"VARCHAR": "string", "JSON": "string", "TIMESTAMPTZ": "timestamp",
              "TIMESTAMP": "timestamp", "INTEGER": "int", "BIGINT": "bigint",
              "BOOLEAN": "boolean", "DOUBLE": "double", "DATE": "date"}


def test_glue_columns_are_the_compactions_parquet_columns(tf: TerraformTree) -> None:
    """Each curated table declares exactly the columns, in the order and with the types,
    that the compaction writes (services/insights/lake/compaction.py CURATED_COLUMNS), so
    Athena reads every column of the Parquet files by name."""
    if not (ROOT / "services/insights/lake/compaction.py").exists():
        pytest.skip("the lake's compaction is not merged yet")
    compaction = pytest.importorskip("services.insights.lake.compaction")
    curated = lake_locals(tf)["curated"]
    assert set(curated) == set(compaction.CURATED_COLUMNS)
    for table, columns in compaction.CURATED_COLUMNS.items():
        declared = [(c["name"], c["type"]) for c in curated[table]["columns"]]
        assert declared == [(name, GLUE_TYPES[kind]) for name, kind in columns.items()], table
