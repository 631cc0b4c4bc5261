"""The Terraform tree read with python-hcl2 (no provider needed), checked against
infra/services.yaml, infra/topology.yaml and what the services' code actually calls."""

from __future__ import annotations

import importlib
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from infra_support import INFRA, ROOT, TERRAFORM, ServiceCode, TerraformTree

from shared.events import EVENT_TYPE_PREFIX
from shared.settings import PlatformSettings
from shared.topology import dlq_name

# AWS gives these actions no resource-level permissions: "*" is the only possible resource.
SERVICES = ["recipes", "meetings", "stock-ingest", "trend", "media-jobs", "insights"]
UNSCOPABLE_ACTIONS = {"ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition",
                      "ecs:RegisterTaskDefinition", "xray:PutTraceSegments",
                      "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                      "xray:GetSamplingTargets"}


def code_or_skip(service_code: Callable[[str], ServiceCode | None], name: str) -> ServiceCode:
    code = service_code(name)
    if code is None:
        pytest.skip(f"the {name} package does not exist yet")
    return code


def expr(value: Any) -> str:
    """An HCL expression as python-hcl2 renders it, without the ${...} wrapper."""
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


# --- format and single source of truth ------------------------------------------------


def test_terraform_fmt_is_clean(terraform_bin: str, terraform_env: dict[str, str]) -> None:
    """`terraform fmt -check -recursive` finds nothing to reformat."""
    result = subprocess.run([terraform_bin, "fmt", "-check", "-recursive", "-diff", "-no-color",
                             str(TERRAFORM)], capture_output=True, text=True, env=terraform_env,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_topology_and_services_are_decoded_in_one_place(tf: TerraformTree) -> None:
    """Only modules/catalog calls yamldecode, and envs/dev points it at the two files."""
    decoders = [p for p in tf.files if "yamldecode(" in p.read_text()]
    assert decoders == [TERRAFORM / "modules" / "catalog" / "main.tf"]
    catalog = tf.module_calls()["catalog"]
    env_dir = TERRAFORM / "envs" / "dev"
    for key, target in (("topology_file", "topology.yaml"), ("services_file", "services.yaml")):
        relative = expr(catalog[key]).replace("${path.module}/", "")
        assert (env_dir / relative).resolve() == INFRA / target


def test_no_module_writes_a_topology_name(tf: TerraformTree, topology: dict[str, Any],
                                          services: dict[str, dict[str, Any]]) -> None:
    """Modules take every topic, queue, table, bucket and service from the catalog; the
    environment only looks a few up by key, and those keys exist."""
    names = {n for kind in ("topics", "queues", "tables", "buckets") for n in topology[kind]}
    names |= set(services)
    for path in tf.files:
        text = path.read_text()
        quoted = {n for n in names if f'"{n}"' in text}
        if "modules" in path.parts:
            assert not quoted, f"{path.relative_to(TERRAFORM)} names {quoted}"
    env_text = (TERRAFORM / "envs" / "dev" / "main.tf").read_text()
    for name in re.findall(r'\["([a-z0-9.-]+)"\]|"([a-z0-9.-]+)" =', env_text):
        key = next(n for n in name if n)
        assert key in topology["buckets"], f"envs/dev looks up unknown bucket {key}"


# --- every service gets its infrastructure ----------------------------------------------


def test_every_service_package_is_declared(services: dict[str, dict[str, Any]]) -> None:
    """Each package under services/ is a service of infra/services.yaml, and vice versa."""
    packages = {p.parent.name for p in (ROOT / "services").glob("*/__init__.py")}
    assert packages <= {svc["package"] for svc in services.values()}
    assert len({svc["port"] for svc in services.values()}) == len(services)
    assert len({svc["prefix"] for svc in services.values()}) == len(services)


@pytest.mark.parametrize("name", SERVICES)
def test_declared_routes_match_the_service_code(
    name: str, services: dict[str, dict[str, Any]],
    service_code: Callable[[str], ServiceCode | None]
) -> None:
    """The service's app serves the prefix the ALB routes to it, and runs as declared."""
    code = code_or_skip(service_code, name)
    if not code.has_api:
        pytest.skip(f"services/{code.directory.name}/main.py is not written yet")
    svc = services[name]
    main = (code.directory / "main.py").read_text()
    assert re.search(rf'prefix\s*=\s*"{re.escape(svc["prefix"])}"', main), "prefix differs"
    assert svc["api"]["command"][:2] == ["uvicorn", f"services.{svc['package']}.main:app"]
    assert svc["api"]["command"][svc["api"]["command"].index("--port") + 1] == str(svc["port"])


def test_every_service_has_a_repository_a_task_definition_and_routes(tf: TerraformTree) -> None:
    """ECR and task definitions cover every service; target groups and path rules every API."""
    env = tf.module_calls()
    assert expr(env["ecr"]["services"]) == "toset(keys(module.catalog.services))"
    assert expr(tf.resource("ecr", "aws_ecr_repository", "service")["for_each"]) == "var.services"
    assert expr(env["ecs"]["processes"]) == "module.catalog.processes"
    assert expr(tf.resource("ecs", "aws_ecs_task_definition", "process")["for_each"]) \
        == "local.spec"
    assert "for key, p in var.processes" in tf.text("modules/ecs/main.tf")
    assert expr(env["alb"]["api_services"]) == "module.catalog.api_services"
    for type_, name in (("aws_lb_target_group", "api"), ("aws_lb_listener_rule", "api")):
        assert expr(tf.resource("alb", type_, name)["for_each"]) == "var.api_services"
    api = tf.resource("ecs", "aws_ecs_service", "api")
    assert expr(api["for_each"]) == "local.api_processes"
    assert expr(api["load_balancer"][0]["target_group_arn"]) \
        == "var.target_group_arns[each.value.service]"


def test_every_worker_is_an_ecs_service_scaled_on_its_backlog(tf: TerraformTree) -> None:
    """Each worker process is an ECS service with target tracking on visible messages per
    running task, built from its own queues."""
    worker = tf.resource("ecs", "aws_ecs_service", "worker")
    assert expr(worker["for_each"]) == "local.worker_processes"
    policy = tf.resource("ecs", "aws_appautoscaling_policy", "worker_backlog")
    assert expr(policy["for_each"]) == "local.worker_processes"
    config = policy["target_tracking_scaling_policy_configuration"][0]
    assert expr(config["target_value"]) \
        == "var.services[each.value.service].worker.backlog_per_task"
    spec = config["customized_metric_specification"][0]
    queues = spec["dynamic"][0]["metrics"]
    assert expr(queues["for_each"]) == "var.services[each.value.service].worker.queues"
    metric = queues["content"][0]["metric_stat"][0]["metric"][0]
    assert metric["metric_name"] == "ApproximateNumberOfMessagesVisible"
    metrics = {m["id"]: m for m in spec["metrics"]}
    assert metrics["tasks"]["metric_stat"][0]["metric"][0]["metric_name"] == "RunningTaskCount"
    assert "/ tasks" in metrics["backlog"]["expression"]
    api = tf.resource("ecs", "aws_appautoscaling_policy", "api_cpu")
    assert api["target_tracking_scaling_policy_configuration"][0][
        "predefined_metric_specification"][0]["predefined_metric_type"] \
        == "ECSServiceAverageCPUUtilization"


# --- what the code uses is what is declared -----------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_consumed_queues_exist_with_a_dlq_and_alarms(
    name: str, services: dict[str, dict[str, Any]], topology: dict[str, Any],
    service_code: Callable[[str], ServiceCode | None], tf: TerraformTree
) -> None:
    """Every queue the code consumes is the service's declared worker queue, is in the
    topology with its owner, and gets a DLQ (the dlq_name rule) and both queue alarms."""
    code = code_or_skip(service_code, name)
    consumed = code.consumed_queues()
    declared = set(services[name].get("worker", {}).get("queues", []))
    if not code.has_worker:
        assert not consumed, f"{name} consumes {consumed} but has no worker.py"
        if declared:
            pytest.skip(f"services/{code.directory.name}/worker.py is not written yet")
        return
    assert consumed == declared
    assert code.dead_letter_queues() == set(services[name]["worker"].get("dead_letters", []))
    catalog = (TERRAFORM / "modules/catalog/main.tf").read_text()
    assert '"${trimsuffix(name, ".fifo")}-dlq.fifo" : "${name}-dlq"' in catalog
    for queue in consumed:
        assert topology["queues"][queue]["owner"] == name
        assert dlq_name(queue) == (f"{queue[:-5]}-dlq.fifo" if queue.endswith(".fifo")
                                   else f"{queue}-dlq")
    assert expr(tf.resource("messaging", "aws_sqs_queue", "dlq")["for_each"]) == "var.queues"
    for alarm in ("dlq_messages", "queue_oldest_message"):
        resource = tf.resource("observability", "aws_cloudwatch_metric_alarm", alarm)
        assert expr(resource["for_each"]) == "var.queues"
    env = tf.module_calls()
    assert expr(env["messaging"]["queues"]) == expr(env["observability"]["queues"]) \
        == "module.catalog.queues"


ACCESS_SECTIONS = {"tables": "tables", "buckets": "buckets", "publishes": "topics",
                   "sends_to": "queues"}


def declared_access(spec: dict[str, Any]) -> dict[str, set[str]]:
    """What one process section (api: / worker:) of services.yaml grants, by kind."""
    return {kind: set(spec.get(kind, {} if kind in ("tables", "buckets") else []))
            for kind in ACCESS_SECTIONS}


def used_access(code: ServiceCode) -> dict[str, set[str]]:
    return {"tables": code.tables(), "buckets": code.buckets(),
            "publishes": code.published_topics(), "sends_to": code.queues_sent_to()}


@pytest.mark.parametrize("name", SERVICES)
def test_declared_access_is_what_the_code_uses(
    name: str, services: dict[str, dict[str, Any]], topology: dict[str, Any],
    service_code: Callable[[str], ServiceCode | None]
) -> None:
    """Tables, buckets, topics and queues sent to in the code are all declared (so the task
    roles allow them); once the service is complete, nothing more is (least privilege)."""
    code = code_or_skip(service_code, name)
    svc = services[name]
    used = used_access(code)
    declared: dict[str, set[str]] = {kind: set() for kind in ACCESS_SECTIONS}
    for kind in ("api", "worker"):
        for key, names in declared_access(svc.get(kind, {})).items():
            declared[key] |= names
    assert not {k for k in ACCESS_SECTIONS if k in svc}, \
        "access is declared per process (under api: and worker:), not per service"
    for kind in used:
        assert used[kind] <= declared[kind], f"{kind}: code uses {used[kind] - declared[kind]}"
    for kind, names in declared.items():
        for resource in names:
            assert topology[ACCESS_SECTIONS[kind]][resource]["owner"] == name, resource
    complete = code.has_api and (code.has_worker or "worker" not in svc)
    if not complete:
        pytest.skip(f"{name} is not complete yet: only checked that its code is covered")
    for kind in used:
        assert used[kind] == declared[kind], f"{kind}: declared, unused: " \
                                             f"{declared[kind] - used[kind]}"


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("kind", ["api", "worker"])
def test_each_process_declares_what_its_entry_module_looks_up(
    name: str, kind: str, services: dict[str, dict[str, Any]],
    service_code: Callable[[str], ServiceCode | None]
) -> None:
    """Every AWS resource a process looks up (main.py for the API, worker.py and the queue
    subscriptions it builds, declared in consumers.py, for the worker; container.py, for a
    process that builds its stores with it) is declared for that process, and nothing else
    is: its task role is exactly that."""
    code = code_or_skip(service_code, name)
    svc = services[name]
    if kind not in svc:
        pytest.skip(f"{name} has no {kind}")
    entry = code.directory / ("main.py" if kind == "api" else "worker.py")
    if not entry.exists():
        pytest.skip(f"services/{code.directory.name}/{entry.name} is not written yet")
    looked_up = [entry] + ([code.directory / "consumers.py"] if kind == "worker" else []) + (
        [code.directory / "container.py"] if "build_container" in entry.read_text() else [])
    sources = "\n".join(p.read_text() for p in looked_up if p.exists())
    used = used_access(ServiceCode(name, code.directory, sources))
    assert used == declared_access(svc[kind])
    assert bool(svc[kind].get("sends_mail")) == ('client("ses")' in entry.read_text())


@pytest.mark.parametrize("name", SERVICES)
def test_published_events_have_a_subscriber_or_are_terminal(
    name: str, services: dict[str, dict[str, Any]], topology: dict[str, Any],
    service_code: Callable[[str], ServiceCode | None]
) -> None:
    """Each event type the code publishes is filtered into some queue subscribed to one of
    the service's topics, or is declared terminal in the topology."""
    code = code_or_skip(service_code, name)
    published = {t for t in code.published_event_types(EVENT_TYPE_PREFIX)
                 if t.startswith(f"{EVENT_TYPE_PREFIX}.{name}.")}
    if not published:
        pytest.skip(f"{name}'s code publishes no event yet")
    topics = {t for kind in ("api", "worker")
              for t in services[name].get(kind, {}).get("publishes", [])}
    subscribed = {t for q in topology["queues"].values() for s in q.get("subscriptions", [])
                  if s["topic"] in topics for t in s["event_types"]}
    emailed = any(topology["topics"][t].get("email_subscription") for t in topics)
    orphans = published - subscribed - set(topology["terminal_events"])
    assert not orphans or emailed, f"published but nobody subscribes: {sorted(orphans)}"


# --- IAM ------------------------------------------------------------------------------------


def policy_statements(tf: TerraformTree) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, _, name, body in tf.blocks("data", "aws_iam_policy_document"):
        where = f"{path.parent.name}/{name}"
        for statement in body.get("statement", []):
            found.append((where, statement))
        for dynamic in body.get("dynamic", []):
            for content in dynamic.get("statement", {}).get("content", []):
                found.append((f"{where} (dynamic)", content))
    return found


def test_no_iam_statement_allows_a_wildcard_action(tf: TerraformTree) -> None:
    """No Allow statement grants `*` or `service:*` (Deny statements may, to forbid)."""
    statements = policy_statements(tf)
    assert len(statements) > 20
    for where, statement in statements:
        if statement.get("effect", "Allow") == "Deny":
            continue
        actions = statement.get("actions", [])
        if isinstance(actions, str):
            assert actions.startswith("${statement.value."), f"{where}: {actions}"
            continue
        for action in actions:
            assert "*" not in action, f"{where}: {action}"


def test_every_iam_statement_is_resource_scoped(tf: TerraformTree) -> None:
    """Allow statements name resources; `*` only for the actions AWS cannot scope."""
    for where, statement in policy_statements(tf):
        actions = statement.get("actions", [])
        if statement.get("effect", "Allow") == "Deny" or actions == ["sts:AssumeRole"]:
            continue
        resources = statement.get("resources")
        assert resources, f"{where}: no resources"
        if isinstance(resources, list) and "*" in resources:
            assert set(actions) <= UNSCOPABLE_ACTIONS, f"{where}: {actions} on *"


def test_no_aws_managed_policy_is_attached(tf: TerraformTree) -> None:
    """Roles carry only this repository's policies (AWS managed ones grant `*` resources)."""
    for path in tf.files:
        assert "arn:aws:iam::aws:policy/" not in path.read_text(), path
        assert "managed_policy_arns" not in path.read_text(), path


def test_each_process_has_its_own_task_role_and_each_service_an_execution_role(
    tf: TerraformTree
) -> None:
    """One task role per process (an API and its worker never share one) and one separate
    execution role per service, each wired into its tasks."""
    for type_ in ("aws_iam_role", "aws_iam_role_policy"):
        assert expr(tf.resource("iam", type_, "task")["for_each"]) == "var.processes"
        assert expr(tf.resource("iam", type_, "execution")["for_each"]) == "var.services"
    iam = tf.module_calls()["iam"]
    assert expr(iam["processes"]) == "module.catalog.process_access"
    assert expr(iam["task_statements"]) == "module.catalog.task_statements"
    task_definition = tf.resource("ecs", "aws_ecs_task_definition", "process")
    assert expr(task_definition["for_each"]) == "local.spec"
    assert expr(task_definition["task_role_arn"]) == "var.task_role_arns[each.key]"
    assert expr(task_definition["execution_role_arn"]) \
        == "var.execution_role_arns[each.value.service]"
    task_policy = next(b for p, _, n, b in tf.blocks("data", "aws_iam_policy_document")
                       if p.parent.name == "iam" and n == "task")
    assert expr(task_policy["dynamic"][0]["statement"]["for_each"]) \
        == "var.task_statements[each.key]"


# --- ECS, ALB, network -------------------------------------------------------------------


def test_ecs_services_roll_back_and_stay_private(tf: TerraformTree) -> None:
    """Circuit breaker with rollback, no public IP, Container Insights on, Spot for workers."""
    cluster = tf.resource("ecs", "aws_ecs_cluster", "this")
    assert cluster["setting"][0]["name"] == "containerInsights"
    for kind in ("api", "worker"):
        service = tf.resource("ecs", "aws_ecs_service", kind)
        breaker = service["deployment_circuit_breaker"][0]
        assert breaker["enable"] is True and breaker["rollback"] is True, kind
        assert service["network_configuration"][0]["assign_public_ip"] is False, kind
    worker = tf.resource("ecs", "aws_ecs_service", "worker")
    assert expr(worker["capacity_provider_strategy"][0]["capacity_provider"]) \
        == 'var.workers_on_spot ? "FARGATE_SPOT" : "FARGATE"'


def test_containers_stop_after_the_worker_drain(tf: TerraformTree) -> None:
    """stopTimeout is the drain plus a margin, capped at ECS's 120 s, and the worker is told
    its drain budget as WORKER_STOP_TIMEOUT."""
    catalog = tf.text("modules/catalog/main.tf")
    assert "stop_timeout  = min(try(svc.worker.drain_seconds, 25) + 5, 120)" in catalog
    ecs = tf.text("modules/ecs/main.tf")
    assert "stopTimeout            = s.stop_timeout" in ecs
    assert "WORKER_STOP_TIMEOUT      = tostring(s.svc.worker.drain_seconds)" in ecs


def test_worker_containers_check_their_consumers_make_progress(tf: TerraformTree) -> None:
    """A worker container's health check is docker/healthcheck.py --queue for every queue and
    drained DLQ (dlq_name's rule), and the worker is told its stall time, a setting the kit
    reads (the plan test checks the planned containers where a provider is at hand); it names
    the outbox relay where the catalogue says the worker runs one."""
    ecs = tf.text("modules/ecs/main.tf")
    assert 'command = concat(["CMD", "python", "/app/docker/healthcheck.py"], flatten([' in ecs
    assert ("for d in s.svc.worker.dead_letters : endswith(d, \".fifo\") ? "
            "\"${trimsuffix(d, \".fifo\")}-dlq.fifo\" : \"${d}-dlq\"") in ecs
    assert "]) : [\"--queue\", q]" in ecs
    assert 's.svc.worker.relay ? ["--relay", "${s.service}-outbox"] : [])' in ecs
    assert "} if s.kind == \"worker\"" in ecs
    assert "try(local.worker_container[key], {})," in ecs
    # The task definition encodes the containers the plan test reads (module.ecs.containers).
    assert "container_definitions = jsonencode(local.containers[each.key])" in ecs
    assert "value       = local.containers" in tf.text("modules/ecs/outputs.tf")
    assert 'WORKER_STALL_SECONDS = "120"' in ecs
    assert "worker_stall_seconds" in PlatformSettings.model_fields


def test_tasks_get_the_settings_the_code_reads_and_no_emulator(
    tf: TerraformTree, services: dict[str, dict[str, Any]]
) -> None:
    """The environment envs/dev gives every container names PlatformSettings fields only,
    and never AWS_ENDPOINT_URL (unset in AWS)."""
    environment = tf.module_calls()["ecs"]["environment"]
    fields = {f.upper() for f in PlatformSettings.model_fields}
    assert set(environment) <= fields
    assert {"AWS_REGION", "REGATTA_NAME_PREFIX", "REGATTA_ENV", "COGNITO_USER_POOL_ID",
            "COGNITO_CLIENT_ID", "LOG_FORMAT"} <= set(environment)
    assert "AWS_ENDPOINT_URL" not in environment
    platform_values = tf.module_calls()["ecs"]["platform_values"]
    for name, svc in services.items():
        for variable, value in svc.get("platform_env", {}).items():
            assert value in platform_values, f"{name}: {variable} names unknown {value}"
    for path in tf.files:
        assert "AWS_ENDPOINT_URL =" not in path.read_text(), path


@pytest.mark.parametrize("name", SERVICES)
def test_service_variables_are_settings_of_the_service(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    """Every variable services.yaml hands a service is a field of its settings class, so a
    typo cannot pass silently (settings ignore unknown variables)."""
    svc = services[name]
    names = set(svc.get("environment", {})) | set(svc.get("platform_env", {}))
    names |= set(svc.get("secrets", {}))
    if not names:
        pytest.skip(f"{name} gets no variables of its own")
    module_path = ROOT / "services" / svc["package"] / "settings.py"
    if not module_path.exists():
        pytest.skip(f"services/{svc['package']}/settings.py is not written yet")
    module = importlib.import_module(f"services.{svc['package']}.settings")
    classes = [c for c in vars(module).values() if isinstance(c, type)
               and issubclass(c, PlatformSettings) and c is not PlatformSettings]
    assert classes, f"no PlatformSettings subclass in {module_path}"
    fields = {f.upper() for c in classes for f in c.model_fields}
    assert names <= fields, f"not settings of {name}: {names - fields}"


def test_the_alb_is_a_private_origin_behind_cloudfront(tf: TerraformTree) -> None:
    """The ALB is internal, in the private app subnets; CloudFront reaches it through a VPC
    origin (inside AWS's network, HTTPS when the ALB has a certificate), never a public
    custom origin; every behaviour redirects viewers to HTTPS; the web ACL on the
    distribution is CLOUDFRONT-scoped in us-east-1 and rate-limits each client address;
    no regional web ACL remains on the ALB."""
    alb = tf.resource("alb", "aws_lb", "this")
    assert alb["internal"] is True
    calls = tf.module_calls()
    assert expr(calls["alb"]["subnet_ids"]) == "module.network.app_subnet_ids"
    vpc_origin = tf.resource("edge", "aws_cloudfront_vpc_origin", "alb")
    endpoint = vpc_origin["vpc_origin_endpoint_config"][0]
    assert expr(endpoint["arn"]) == "var.alb_arn"
    assert expr(endpoint["origin_protocol_policy"]) == 'var.alb_https ? "https-only" : "http-only"'
    assert expr(calls["edge"]["alb_arn"]) == "module.alb.arn"
    assert expr(calls["edge"]["alb_https"]) == "module.alb.https"
    distribution = tf.resource("edge", "aws_cloudfront_distribution", "this")
    api_origin = next(o for o in distribution["origin"] if o["origin_id"] == "api")
    assert "custom_origin_config" not in api_origin
    assert expr(api_origin["vpc_origin_config"][0]["vpc_origin_id"]) \
        == "aws_cloudfront_vpc_origin.alb.id"
    behaviours = [distribution["default_cache_behavior"][0],
                  *distribution["ordered_cache_behavior"],
                  *distribution["dynamic"][0]["ordered_cache_behavior"]["content"]]
    assert len(behaviours) == 3
    assert {b["viewer_protocol_policy"] for b in behaviours} == {"redirect-to-https"}
    # Without a certificate the ALB serves HTTP to the VPC origin; with one it must know the
    # name CloudFront connects to, or the plan stops.
    https = tf.resource("alb", "aws_lb_listener", "https")
    assert expr(https["lifecycle"][0]["precondition"][0]["condition"]) \
        == 'var.origin_domain != ""'

    acl = tf.resource("edge", "aws_wafv2_web_acl", "edge")
    assert acl["scope"] == "CLOUDFRONT" and expr(acl["provider"]) == "aws.us_east_1"
    assert expr(distribution["web_acl_id"]) \
        == "var.waf_enabled ? aws_wafv2_web_acl.edge[0].arn : null"
    rules = {r["name"]: r for r in acl["rule"]}
    rate = rules["rate-limit-per-ip"]["statement"][0]["rate_based_statement"][0]
    assert rate["aggregate_key_type"] == "IP" and "forwarded_ip_config" not in rate
    assert "block" in rules["rate-limit-per-ip"]["action"][0]
    assert not [b for b in tf.blocks("resource", "aws_wafv2_web_acl")
                if b[0].parent.name != "edge"]
    assert not tf.blocks("resource", "aws_wafv2_web_acl_association")
    logging = tf.resource("edge", "aws_wafv2_web_acl_logging_configuration", "edge")
    redacted = {f["single_header"][0]["name"] for f in logging["redacted_fields"]}
    assert "authorization" in redacted
    providers = calls["edge"]["providers"]
    assert {expr(k): expr(v) for k, v in providers.items()} == {"aws": "aws",
                                                          "aws.us_east_1": "aws.us_east_1"}
    aliased = [b for doc in tf.files.values() for b in doc.get("provider", [])
               if "aws" in b and b["aws"].get("alias") == "us_east_1"]
    assert aliased and aliased[0]["aws"]["region"] == "us-east-1"


def test_a_custom_domain_is_optional_and_complete(tf: TerraformTree) -> None:
    """domain_name and route53_zone_id default to empty (the *.cloudfront.net name); set, they
    give an ACM certificate in us-east-1 validated through DNS, the distribution's alias with
    TLSv1.2_2021, and A/AAAA alias records; the public base URL follows the domain."""
    variables = tf.named("variable", "dev")
    assert variables["domain_name"]["default"] == variables["route53_zone_id"]["default"] == ""
    calls = tf.module_calls()
    assert expr(calls["edge"]["domain_name"]) == "var.domain_name"
    assert expr(calls["edge"]["route53_zone_id"]) == "var.route53_zone_id"
    certificate = tf.resource("edge", "aws_acm_certificate", "edge")
    assert certificate["validation_method"] == "DNS"
    assert expr(certificate["provider"]) == "aws.us_east_1"
    assert expr(certificate["count"]) == "local.custom_domain ? 1 : 0"
    assert "route53_zone_id" in expr(
        certificate["lifecycle"][0]["precondition"][0]["condition"])
    tf.resource("edge", "aws_acm_certificate_validation", "edge")
    alias = tf.resource("edge", "aws_route53_record", "alias")
    assert 'toset(["A", "AAAA"])' in expr(alias["for_each"])
    distribution = tf.resource("edge", "aws_cloudfront_distribution", "this")
    assert expr(distribution["aliases"]) == "local.custom_domain ? [var.domain_name] : []"
    viewer = distribution["viewer_certificate"][0]
    assert "TLSv1.2_2021" in expr(viewer["minimum_protocol_version"])
    assert "aws_acm_certificate_validation.edge[0].certificate_arn" in expr(
        viewer["acm_certificate_arn"])
    base = tf.named("output", "edge")["public_base_url"]
    assert "local.custom_domain ? var.domain_name" in str(base["value"])
    assert expr(calls["ecs"]["environment"]["PUBLIC_BASE_URL"]) == "module.edge.public_base_url"


def test_api_containers_trust_forwarded_headers_from_the_vpc_only(tf: TerraformTree) -> None:
    """Every API container gets FORWARDED_ALLOW_IPS (uvicorn's --forwarded-allow-ips) = the
    VPC's CIDR, where the ALB and CloudFront's VPC origin interfaces are; workers get none,
    and a wildcard is refused."""
    assert expr(tf.module_calls()["ecs"]["forwarded_allow_ips"]) == "module.network.vpc_cidr"
    text = tf.text("modules/ecs/main.tf")
    assert 's.kind == "api" ? { FORWARDED_ALLOW_IPS = var.forwarded_allow_ips } : {}' in text
    validation = tf.named("variable", "ecs")["forwarded_allow_ips"]["validation"][0]
    assert '"*"' in expr(validation["condition"])


def test_alb_checks_health_and_routes_by_prefix(tf: TerraformTree) -> None:
    """Health checks on /healthz every 30 s (healthy 2, unhealthy 5); `<prefix>*` rules;
    HTTPS with the certificate and a redirect, or HTTP only without one."""
    check = tf.resource("alb", "aws_lb_target_group", "api")["health_check"][0]
    assert (check["path"], check["interval"], check["healthy_threshold"],
            check["unhealthy_threshold"]) == ("/healthz", 30, 2, 5)
    rule = tf.resource("alb", "aws_lb_listener_rule", "api")
    assert rule["condition"][0]["path_pattern"][0]["values"] == ["${each.value.prefix}*"]
    https = tf.resource("alb", "aws_lb_listener", "https")
    assert https["protocol"] == "HTTPS" and expr(https["certificate_arn"]) == "var.certificate_arn"
    assert "TLS13" in https["ssl_policy"]
    redirect = tf.resource("alb", "aws_lb_listener", "http_redirect")
    assert redirect["default_action"][0]["redirect"][0]["protocol"] == "HTTPS"
    assert expr(redirect["count"]) == "local.https ? 1 : 0"
    assert expr(tf.resource("alb", "aws_lb_listener", "http_only")["count"]) \
        == "local.https ? 0 : 1"


def test_network_has_three_tiers_nat_toggle_and_endpoints(tf: TerraformTree) -> None:
    """Public, app and data subnets per AZ; NAT per AZ or one; S3/DynamoDB gateway and
    ECR/Logs/SQS/SNS interface endpoints (toggle); the data tier has no route out."""
    for tier in ("public", "app", "data"):
        assert expr(tf.resource("network", "aws_subnet", tier)["for_each"]) == "local.az_index"
    assert "var.single_nat_gateway ? [local.azs[0]] : local.azs" in tf.text(
        "modules/network/main.tf")
    gateway = tf.resource("network", "aws_vpc_endpoint", "gateway")
    assert expr(gateway["for_each"]) == 'toset(["s3", "dynamodb"])'
    interface = expr(tf.resource("network", "aws_vpc_endpoint", "interface")["for_each"])
    assert interface.startswith("var.enable_interface_endpoints ?")
    for service in ("ecr.api", "ecr.dkr", "logs", "sqs", "sns"):
        assert f'"{service}"' in interface
    routes = [b for p, _, n, b in tf.blocks("resource", "aws_route") if p.parent.name == "network"]
    assert all("data" not in expr(r["route_table_id"]) for r in routes)


def test_security_groups_are_least_privilege(tf: TerraformTree) -> None:
    """ALB: only CloudFront's origin-facing prefix list, on the one port its VPC origin uses,
    nothing from an address range; API tasks: only from the ALB on the app ports; workers:
    no ingress at all."""
    ingress = {n: b for p, _, n, b in tf.blocks("resource", "aws_vpc_security_group_ingress_rule")
               if p.parent.name == "security"}
    assert set(ingress) == {"alb_from_cloudfront", "api_from_alb"}
    alb = ingress["alb_from_cloudfront"]
    assert expr(alb["prefix_list_id"]) == "data.aws_ec2_managed_prefix_list.cloudfront.id"
    assert expr(alb["from_port"]) == expr(alb["to_port"]) == "var.origin_port"
    assert not {"cidr_ipv4", "cidr_ipv6", "referenced_security_group_id"} & set(alb)
    (_, _, _, prefix_list), = [b for b in tf.blocks("data", "aws_ec2_managed_prefix_list")
                               if b[0].parent.name == "security"]
    assert prefix_list["name"] == "com.amazonaws.global.cloudfront.origin-facing"
    assert expr(tf.module_calls()["security"]["origin_port"]) == "local.origin_https ? 443 : 80"
    api = ingress["api_from_alb"]
    assert expr(api["referenced_security_group_id"]) == "aws_security_group.alb.id"
    assert "cidr_ipv4" not in api
    assert not any("worker" in expr(r["security_group_id"]) for r in ingress.values())
    for path in tf.files:
        if path.parent.name in ("alb", "edge"):
            assert "0.0.0.0/0" not in path.read_text(), path


def test_ecr_repositories_are_immutable_scanned_and_pruned(tf: TerraformTree) -> None:
    """Immutable tags, scan on push, untagged images expire after a day, N tagged kept."""
    repository = tf.resource("ecr", "aws_ecr_repository", "service")
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert repository["image_scanning_configuration"][0]["scan_on_push"] is True
    text = tf.text("modules/ecr/main.tf")
    assert re.search(r'tagStatus\s+=\s+"untagged"[\s\S]+countNumber\s+=\s+1\b', text)
    assert re.search(r'tagStatus\s+=\s+"tagged"[\s\S]+imageCountMoreThan', text)


# --- data, messaging, auth, edge, analytics, pipeline, observability ----------------------


def test_messaging_and_data_follow_the_topology(tf: TerraformTree) -> None:
    """Raw delivery with the catalog's filter policy; on-demand tables with PITR and SSE;
    private buckets; versioning, notifications, lifecycle and CORS only where declared."""
    subscription = tf.resource("messaging", "aws_sns_topic_subscription", "queue")
    assert subscription["raw_message_delivery"] is True
    assert expr(subscription["filter_policy"]) == "each.value.filter_policy"
    assert expr(tf.resource("messaging", "aws_sns_topic", "this")["fifo_topic"]) \
        == "each.value.fifo"
    table = tf.resource("data", "aws_dynamodb_table", "this")
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert table["point_in_time_recovery"][0]["enabled"] is True
    assert table["server_side_encryption"][0]["enabled"] is True
    block = tf.resource("data", "aws_s3_bucket_public_access_block", "this")
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy",
                                          "ignore_public_acls", "restrict_public_buckets"))
    filters = {name: expr(tf.resource("data", type_, "this")["for_each"]) for name, type_ in (
        ("versioning", "aws_s3_bucket_versioning"), ("notifications", "aws_s3_bucket_notification"),
        ("cors", "aws_s3_bucket_cors_configuration"))}
    assert "if b.versioning" in filters["versioning"]
    assert "if length(b.notifications) > 0" in filters["notifications"]
    assert "if b.cors != null" in filters["cors"]
    rule = tf.resource("data", "aws_s3_bucket_cors_configuration", "this")["cors_rule"][0]
    assert {k: expr(v) for k, v in rule.items() if k in (
        "allowed_origins", "allowed_methods", "expose_headers")} == {
        "allowed_origins": "each.value.cors.allowed_origins",
        "allowed_methods": "each.value.cors.allowed_methods",
        "expose_headers": "each.value.cors.expose_headers"}
    lifecycle = tf.resource("data", "aws_s3_bucket_lifecycle_configuration", "this")
    assert expr(lifecycle["dynamic"][0]["rule"]["for_each"]) == "each.value.lifecycle"


def test_cognito_asks_more_than_the_originals_six_characters(tf: TerraformTree) -> None:
    """Passwords of 12+ characters with every class; an app client; the admins group."""
    policy = tf.resource("auth", "aws_cognito_user_pool", "this")["password_policy"][0]
    assert policy["minimum_length"] >= 12
    assert all(policy[k] is True for k in ("require_lowercase", "require_uppercase",
                                           "require_numbers", "require_symbols"))
    assert tf.resource("auth", "aws_cognito_user_group", "admins")["name"] == "admins"
    client = tf.resource("auth", "aws_cognito_user_pool_client", "web")
    assert "ALLOW_USER_PASSWORD_AUTH" in client["explicit_auth_flows"]


def test_machines_get_client_credentials_for_stocks_ingest_only(tf: TerraformTree) -> None:
    """The tick producers' app client: a secret, client credentials only, the resource
    server's stocks/ingest scope; a pool domain serves the token endpoint; the secret lives
    in Secrets Manager under the platform key; the services accept the client's tokens."""
    server = tf.resource("auth", "aws_cognito_resource_server", "stocks")
    assert server["identifier"] == "stocks"
    assert [s["scope_name"] for s in server["scope"]] == ["ingest"]
    client = tf.resource("auth", "aws_cognito_user_pool_client", "stock_producer")
    assert client["generate_secret"] is True
    assert client["allowed_oauth_flows_user_pool_client"] is True
    assert client["allowed_oauth_flows"] == ["client_credentials"]
    assert "aws_cognito_resource_server.stocks.scope_identifiers" in str(
        client["allowed_oauth_scopes"])
    web = tf.resource("auth", "aws_cognito_user_pool_client", "web")
    assert web["generate_secret"] is False and "allowed_oauth_scopes" not in web
    assert tf.resource("auth", "aws_cognito_user_pool_domain", "this")["user_pool_id"]
    secret = tf.resource("auth", "aws_secretsmanager_secret", "stock_producer")
    assert "kms_key_arn" in str(secret["kms_key_id"])
    value = str(tf.resource("auth", "aws_secretsmanager_secret_version", "stock_producer"))
    assert "stock_producer.client_secret" in value and "/oauth2/token" in value
    environment = tf.module_calls()["ecs"]["environment"]
    assert "machine_client_ids" in str(environment["COGNITO_MACHINE_CLIENT_IDS"])
    assert "client_secret" not in str(tf.named("output", "dev"))


def test_edge_analytics_and_mail(tf: TerraformTree) -> None:
    """CloudFront reads media output through OAC; Glue projects the archive's hour
    partitions for Athena; SES holds the meetings identity."""
    oac = tf.resource("edge", "aws_cloudfront_origin_access_control", "media")
    assert (oac["signing_behavior"], oac["signing_protocol"]) == ("always", "sigv4")
    table = tf.resource("analytics", "aws_glue_catalog_table", "ticks")
    assert table["parameters"]["projection.enabled"] == "true"
    template = table["parameters"]["storage.location.template"]
    layout = "raw/year=${year}/month=${month}/day=${day}/hour=${hour}/"
    assert template.endswith(layout.replace("${", "$${"))
    archive = (ROOT / "services/stock_ingest/archive.py")
    if archive.exists():
        assert 'f"{prefix}year={at:%Y}/month={at:%m}/day={at:%d}/hour={at:%H}/"' \
            in archive.read_text()
    workgroup = tf.resource("analytics", "aws_athena_workgroup", "analytics")
    assert workgroup["configuration"][0]["enforce_workgroup_configuration"] is True
    tf.resource("mail", "aws_sesv2_email_identity", "this")


def test_pipeline_deploys_each_ecs_service_from_main(tf: TerraformTree) -> None:
    """GitHub through CodeStar Connections on main, a privileged CodeBuild running
    buildspec.yml, an optional approval, and one ECS deploy action per ECS service."""
    assert tf.named("variable", "pipeline")["branch"]["default"] == "main"
    project = tf.resource("pipeline", "aws_codebuild_project", "images")
    assert project["environment"][0]["privileged_mode"] is True
    assert project["source"][0]["buildspec"] == "buildspec.yml"
    pipeline = tf.resource("pipeline", "aws_codepipeline", "this")
    stages = pipeline["stage"]
    assert stages[0]["action"][0]["provider"] == "CodeStarSourceConnection"
    assert stages[-1]["dynamic"][0]["action"]["content"][0]["provider"] == "ECS"
    assert expr(stages[-1]["dynamic"][0]["action"]["for_each"]) == "var.deployments"
    approval = pipeline["dynamic"][0]["stage"]
    assert expr(approval["for_each"]) == "var.require_approval ? [1] : []"
    assert pipeline["artifact_store"][0]["encryption_key"][0]["type"] == "KMS"
    assert expr(tf.module_calls()["pipeline"]["deployments"]) \
        == "{for name, p in module.catalog.processes : name => p.service}"


def pipeline_locals(tf: TerraformTree) -> dict[str, Any]:
    return {k: v for path, doc in tf.files.items() if path.parent.name == "pipeline"
            for entry in doc.get("locals", []) for k, v in entry.items()}


def test_nothing_goes_live_before_the_approval(tf: TerraformTree) -> None:
    """Stages run Source, Build, [Approve], Deploy; in Deploy every ECS service rolls out
    first (run_order 1) and the web app is published only after all of them (run_order 2),
    by the web-publish project from the build's `web` artifact. The build action itself
    deploys nothing."""
    # python-hcl2 keeps static and dynamic blocks apart; Terraform keeps them in source
    # order, so the stages' order is their order in the file.
    text = tf.text("modules/pipeline/main.tf")
    stage = r'\n  stage \{{\n    name = "{}"\n'
    order = [re.search(pattern, text) for pattern in (
        stage.format("Source"), stage.format("Build"),
        r'\n  dynamic "stage" \{\n    for_each = var.require_approval \? \[1\] : \[\]\n'
        r'    content \{\n      name = "Approve"\n',
        stage.format("Deploy"))]
    assert all(order), "a stage is missing or written differently"
    starts = [match.start() for match in order if match]
    assert starts == sorted(starts), "the stages are out of order"
    pipeline = tf.resource("pipeline", "aws_codepipeline", "this")
    assert [s["name"] for s in pipeline["stage"]] == ["Source", "Build", "Deploy"]
    approve = pipeline["dynamic"][0]["stage"]["content"][0]["action"][0]
    assert (approve["category"], approve["provider"]) == ("Approval", "Manual")
    build = pipeline["stage"][1]["action"]
    assert [(a["category"], a["provider"]) for a in build] == [("Build", "CodeBuild")]
    assert expr(build[0]["configuration"]["ProjectName"]) == "aws_codebuild_project.images.name"

    deploy = pipeline["stage"][-1]
    ecs = deploy["dynamic"][0]["action"]["content"][0]
    (publish,) = deploy["action"]
    assert ecs["run_order"] == 1 and publish["run_order"] == 2
    assert (publish["name"], publish["category"], publish["provider"]) \
        == ("PublishWeb", "Build", "CodeBuild")
    assert expr(publish["configuration"]["ProjectName"]) \
        == "aws_codebuild_project.web_publish.name"
    assert publish["configuration"]["PrimarySource"] == "source"
    assert [expr(a) for a in publish["input_artifacts"]] == ["source", "local.web_artifact"]
    assert "output_artifacts" not in publish


def test_one_artifact_carries_every_imagedefinitions_file(tf: TerraformTree) -> None:
    """The build outputs two artifacts (CodeBuild allows five): `imagedefs` and `web`. Every
    ECS action reads `imagedefs` and names its service's file in it."""
    names = pipeline_locals(tf)
    assert (names["imagedefs_artifact"], names["web_artifact"]) == ("imagedefs", "web")
    pipeline = tf.resource("pipeline", "aws_codepipeline", "this")
    build = pipeline["stage"][1]["action"][0]
    assert [expr(a) for a in build["output_artifacts"]] \
        == ["local.imagedefs_artifact", "local.web_artifact"]
    ecs = pipeline["stage"][-1]["dynamic"][0]["action"]["content"][0]
    assert [expr(a) for a in ecs["input_artifacts"]] == ["local.imagedefs_artifact"]
    assert ecs["configuration"]["FileName"] == "imagedefinitions-${action.value}.json"
    assert expr(ecs["configuration"]["ServiceName"]) == "action.key"


def test_only_the_publish_role_may_touch_the_web_app(tf: TerraformTree) -> None:
    """The web-publish role lists the web bucket, writes and deletes its objects but not
    Terraform's config.json, and invalidates the one distribution; besides that it may only
    read its input artifacts and write its logs. The build role has no web right at all;
    the pipeline may start both projects; envs/dev wires the edge module in, without a
    cycle."""
    statements = {s["sid"]: s for where, s in policy_statements(tf)
                  if where == "pipeline/web_publish"}
    assert {sid: (s.get("effect", "Allow"), sorted(s["actions"]), s["resources"])
            for sid, s in statements.items()} == {
        "PublishLogs": ("Allow", ["logs:CreateLogStream", "logs:PutLogEvents"],
                        ["${aws_cloudwatch_log_group.web_publish.arn}:*"]),
        "ReadArtifacts": ("Allow", ["s3:GetObject", "s3:GetObjectVersion"],
                          ["${aws_s3_bucket.artifacts.arn}/*"]),
        "ReadArtifactsKey": ("Allow", ["kms:Decrypt"], ["${var.kms_key_arn}"]),
        "WebBucketList": ("Allow", ["s3:ListBucket"], ["${var.web_bucket_arn}"]),
        "WebObjects": ("Allow", ["s3:DeleteObject", "s3:PutObject"], ["${var.web_bucket_arn}/*"]),
        "WebConfigIsTerraforms": ("Deny", ["s3:DeleteObject", "s3:PutObject"],
                                  ["${var.web_bucket_arn}/config.json"]),
        "WebInvalidation": ("Allow", ["cloudfront:CreateInvalidation"],
                            ["${var.web_distribution_arn}"]),
    }
    build_role = [s for where, s in policy_statements(tf) if where == "pipeline/codebuild"]
    assert build_role, "the build role's policy document moved"
    for statement in build_role:
        assert not any(r.startswith("${var.web") for r in statement["resources"]), statement
        assert not any(a.startswith("cloudfront:") for a in statement["actions"]), statement
    for type_, name, document in (("aws_iam_role_policy", "web_publish", "web_publish"),
                                  ("aws_iam_role_policy", "codebuild", "codebuild")):
        policy = tf.resource("pipeline", type_, name)
        assert expr(policy["policy"]) == f"data.aws_iam_policy_document.{document}.json"
    assert expr(tf.resource("pipeline", "aws_iam_role_policy", "web_publish")["role"]) \
        == "aws_iam_role.web_publish.id"
    publish = tf.resource("pipeline", "aws_codebuild_project", "web_publish")
    assert expr(publish["service_role"]) == "aws_iam_role.web_publish.arn"
    assert publish["environment"][0]["privileged_mode"] is False
    assert expr(publish["logs_config"][0]["cloudwatch_logs"][0]["group_name"]) \
        == "aws_cloudwatch_log_group.web_publish.name"
    assert expr(tf.resource("pipeline", "aws_codebuild_project", "images")["service_role"]) \
        == "aws_iam_role.codebuild.arn"
    starts = next(s for where, s in policy_statements(tf)
                  if where == "pipeline/pipeline" and s.get("sid") == "Build")
    assert sorted(starts["resources"]) == ["${aws_codebuild_project.images.arn}",
                                           "${aws_codebuild_project.web_publish.arn}"]

    wiring = {k: expr(v) for k, v in tf.module_calls()["pipeline"].items() if k.startswith("web")}
    assert wiring == {"web_bucket": "module.edge.web_bucket",
                      "web_bucket_arn": "module.edge.web_bucket_arn",
                      "web_distribution_id": "module.edge.distribution_id",
                      "web_distribution_arn": "module.edge.distribution_arn"}
    edge_inputs = " ".join(str(v) for v in tf.module_calls()["edge"].values())
    assert "module.pipeline" not in edge_inputs, "edge <-> pipeline would be a cycle"
    assert {"web_bucket", "web_bucket_arn"} <= set(tf.named("output", "edge"))


def test_observability_alarms_and_dashboard_exist(tf: TerraformTree) -> None:
    """Alarms on DLQs, queue age, ALB 5xx, target health, running tasks, and the services'
    own worker failures and API 5xx, to one topic."""
    alarms = {n for p, _, n, _ in tf.blocks("resource", "aws_cloudwatch_metric_alarm")
              if p.parent.name == "observability"}
    assert alarms == {"dlq_messages", "queue_oldest_message", "alb_5xx", "unhealthy_targets",
                      "no_healthy_targets", "running_tasks", "worker_failures", "api_5xx"}
    tf.resource("observability", "aws_sns_topic", "alarms")
    tf.resource("observability", "aws_cloudwatch_dashboard", "platform")
    running = tf.resource("observability", "aws_cloudwatch_metric_alarm", "running_tasks")
    assert expr(tf.module_calls()["observability"]["ecs_services"]) \
        == "toset(keys(module.catalog.processes))"
    assert expr(running["for_each"]) == "var.ecs_services"


def test_telemetry_alarms_watch_metrics_the_code_emits(tf: TerraformTree) -> None:
    """The worker-failure and API-5xx alarms name a metric, namespace and dimension set that
    shared.telemetry writes (a typo would leave an alarm on a metric nobody emits)."""
    from shared.metrics import NAMESPACE, UNITS
    from shared.telemetry import API_SETS, WORKER_SETS

    variables = tf.named("variable", "observability")
    assert variables["metrics_namespace"]["default"] == NAMESPACE
    failures = tf.resource("observability", "aws_cloudwatch_metric_alarm", "worker_failures")
    assert failures["metric_name"] in UNITS
    assert tuple(failures["dimensions"]) in WORKER_SETS
    assert expr(failures["dimensions"]["Queue"]) == "each.key"  # the worker's name: its queue
    api = tf.resource("observability", "aws_cloudwatch_metric_alarm", "api_5xx")
    assert (api["metric_name"], api["dimensions"]["StatusClass"]) == ("Requests", "5xx")
    assert tuple(api["dimensions"]) in API_SETS
    for alarm in (failures, api):
        assert expr(alarm["namespace"]) == "var.metrics_namespace"
        assert alarm["treat_missing_data"] == "notBreaching"


def test_every_task_sends_its_traces_through_a_collector_to_xray(tf: TerraformTree) -> None:
    """With var.tracing each task definition adds an ADOT collector (not essential, started
    first) and points the service at it with the variable shared.telemetry reads; the task
    roles may then write to X-Ray and nothing more."""
    from shared.telemetry import TelemetrySettings

    ecs = tf.text("modules/ecs/main.tf")
    assert 'var.tracing ? { OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318" } : {}' in ecs
    assert "otel_exporter_otlp_endpoint" in TelemetrySettings.model_fields
    assert 'var.tracing ? [local.collector_container[key]] : []' in ecs
    assert 'dependsOn = [{ containerName = "otel-collector", condition = "START" }]' in ecs
    assert "try(local.collector_dependency[key], {})," in ecs
    assert "essential              = false" in ecs
    assert 'endpoint = "127.0.0.1:4318"' in ecs and "exporters  = [\"awsxray\"]" in ecs
    assert expr(tf.module_calls()["ecs"]["tracing"]) == "var.tracing"
    assert expr(tf.module_calls()["iam"]["tracing"]) == "var.tracing"
    xray = [st for where, st in policy_statements(tf) if st.get("sid") == "TracesToXRay"]
    # The task roles of modules/iam: the processes' and the scheduled tasks'.
    assert len(xray) == 1 and all(st["resources"] == ["*"] for st in xray)
    assert {a.split(":")[0] for st in xray for a in st["actions"]} == {"xray"}


def test_outputs_give_the_operator_the_urls_and_ids(tf: TerraformTree) -> None:
    """envs/dev outputs the public URL, each service's URL, the Cognito ids, the CDN domain;
    service URLs are public ones (the ALB is internal)."""
    outputs = set(tf.named("output", "dev"))
    assert {"public_url", "service_urls", "cognito_user_pool_id", "cognito_client_id",
            "cloudfront_domain"} <= outputs


def test_tfvars_example_sets_only_declared_variables(tf: TerraformTree) -> None:
    """terraform.tfvars.example names real variables and every one without a default."""
    hcl2 = pytest.importorskip("hcl2")
    with (TERRAFORM / "envs/dev/terraform.tfvars.example").open() as handle:
        example = {k for k in hcl2.load(handle) if not k.startswith("__")}
    declared = tf.named("variable", "dev")
    assert example <= set(declared)
    required = {n for n, b in declared.items() if "default" not in b}
    assert required <= set(example), f"required but not in the example: {required}"


def test_inline_checkov_skips_say_why() -> None:
    """Every `checkov:skip=ID:reason` carries a reason of a sentence, not a shrug."""
    skips = []
    for path in Path(TERRAFORM).rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                match = re.search(r"checkov:skip=(CKV2?_AWS_\d+):(.+)$", line)
                assert match, f"{path}: {line.strip()}"
                assert len(match.group(2).split()) >= 6, f"{path}: {line.strip()}"
                skips.append(match.group(1))
    assert skips, "no skip found: the pattern is wrong"
