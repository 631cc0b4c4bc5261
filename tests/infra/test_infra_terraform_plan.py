"""envs/dev through the real AWS provider, offline: `terraform validate`, then a full
`terraform plan` whose few AWS reads (account id, availability zones) the local emulator
answers. The plan's JSON is then checked resource by resource against the two YAML files.

Needs the hashicorp/aws provider in a local plugin directory (REGATTA_TF_PLUGIN_DIR or
~/.terraform.d/plugins); without one these tests skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from infra_support import INFRA, ROOT

from devkit.emulator import Emulator
from shared.topology import dlq_name

pytestmark = pytest.mark.slow

PLUGIN_DIRS = [os.environ.get("REGATTA_TF_PLUGIN_DIR", ""),
               str(Path.home() / ".terraform.d" / "plugins")]

# Points the provider's few plan-time reads at the emulator; Terraform merges *_override.tf
# files into the configuration, so envs/dev itself stays untouched.
# The us-east-1 alias (CloudFront's web ACL and certificate) gets the same treatment.
EMULATOR_OVERRIDE = """
provider "aws" {
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    sts = "%(url)s"
    ec2 = "%(url)s"
    iam = "%(url)s"
  }
}

provider "aws" {
  alias                       = "us_east_1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    sts = "%(url)s"
    ec2 = "%(url)s"
    iam = "%(url)s"
  }
}
"""

# The task definitions' container_definitions is JSON that stays unknown until apply (the
# image's repository URL, the Cognito ids and the public origin are created then): the plan
# shows module.ecs's containers, the value it encodes, through an output of the copy only.
TEST_OUTPUTS = """
output "zz_test_ecs_containers" {
  value = module.ecs.containers
}
"""


def plugin_dir() -> str:
    for directory in PLUGIN_DIRS:
        if directory and list(Path(directory).glob("registry.terraform.io/hashicorp/aws/5.*")):
            return directory
    pytest.skip("no hashicorp/aws 5.x provider in a local plugin directory "
                f"({', '.join(d for d in PLUGIN_DIRS if d)}); the registry is unreachable")


@pytest.fixture(scope="module")
def env_dir(terraform_bin: str, terraform_env: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of infra/ with envs/dev initialised from the local provider directory."""
    plugins = plugin_dir()
    copy = tmp_path_factory.mktemp("tf") / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    workdir = copy / "terraform" / "envs" / "dev"
    result = subprocess.run([terraform_bin, "init", "-backend=false", "-input=false", "-no-color",
                             f"-plugin-dir={plugins}"], cwd=workdir, env=terraform_env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir


def test_terraform_validate(terraform_bin: str, terraform_env: dict[str, str],
                            env_dir: Path) -> None:
    """The provider's schema accepts every resource, argument and value of envs/dev."""
    result = subprocess.run([terraform_bin, "validate", "-no-color"], cwd=env_dir,
                            env=terraform_env, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def plan(terraform_bin: str, terraform_env: dict[str, str], env_dir: Path,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`terraform plan` of envs/dev with the example's required values, as JSON."""
    logs = tmp_path_factory.mktemp("plan-emulator")
    with Emulator(log_path=logs / "moto.log") as emulator:
        (env_dir / "zz_emulator_override.tf").write_text(EMULATOR_OVERRIDE % {"url": emulator.url})
        (env_dir / "zz_test_outputs.tf").write_text(TEST_OUTPUTS)
        env = {**terraform_env, "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        result = subprocess.run(
            [terraform_bin, "plan", "-input=false", "-no-color", "-refresh=false",
             "-var", "github_repository=acme/regatta", "-var", "region=us-east-1",
             "-out=plan.bin"],
            cwd=env_dir, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr
    shown = subprocess.run([terraform_bin, "show", "-json", "plan.bin"], cwd=env_dir, env=env,
                           capture_output=True, text=True, timeout=300, check=True)
    return dict(json.loads(shown.stdout))


def planned(plan: dict[str, Any], address: str) -> dict[str, dict[str, Any]]:
    """Planned values of every instance of a resource address, by instance key."""
    return {str(r["index"]) if "index" in r else "": r["change"]["after"]
            for r in plan["resource_changes"]
            if f'{r["module_address"]}.{r["type"]}.{r["name"]}' == address
            and r["mode"] == "managed"}


def containers(plan: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """module.ecs's planned containers by process (what each task definition encodes), the
    values known before apply; an unknown one (the image, a Cognito id) is left out."""
    after: dict[str, list[dict[str, Any]]] = plan["output_changes"]["zz_test_ecs_containers"][
        "after"]
    return after


def test_each_process_gets_its_own_task_role(plan: dict[str, Any],
                                             services: dict[str, Any]) -> None:
    """One task role (and policy) per API, per worker and per scheduled task, all built by
    modules/iam (modules/schedules builds only its schedulers' roles); one execution role
    per service."""
    processes = {f"{n}-api" for n in services} | {
        f"{n}-worker" for n, s in services.items() if "worker" in s}
    scheduled = {f"{n}-{task}" for n, s in services.items() for task in s.get("schedules", {})}
    roles = planned(plan, "module.iam.aws_iam_role.task")
    assert set(roles) == processes | scheduled
    assert set(planned(plan, "module.iam.aws_iam_role_policy.task")) == processes | scheduled
    assert {k: r["name"] for k, r in roles.items()} == {
        k: f"regatta-dev-{k}-task" for k in processes | scheduled}
    assert set(planned(plan, "module.iam.aws_iam_role.execution")) == set(services)
    assert set(planned(plan, "module.schedules.aws_iam_role.scheduler")) == scheduled
    assert not planned(plan, "module.schedules.aws_iam_role.task")


def test_plan_creates_and_changes_nothing_else(plan: dict[str, Any]) -> None:
    """A first plan only creates: nothing to update, replace or destroy."""
    actions = {tuple(r["change"]["actions"]) for r in plan["resource_changes"]}
    assert actions <= {("create",), ("read",)}


def test_every_topic_queue_and_dlq_is_planned(plan: dict[str, Any],
                                              topology: dict[str, Any]) -> None:
    """The planned topics, queues and DLQs are exactly the topology's, FIFO where declared,
    with its visibility timeouts; each DLQ keeps 14 days; queues use SSE."""
    prefix = plan["planned_values"]["outputs"]["name_prefix"]["value"]
    topics = planned(plan, "module.messaging.aws_sns_topic.this")
    assert {k: (v["name"], v["fifo_topic"]) for k, v in topics.items()} == {
        t: (prefix + t, bool(spec.get("fifo"))) for t, spec in topology["topics"].items()}
    queues = planned(plan, "module.messaging.aws_sqs_queue.queue")
    dlqs = planned(plan, "module.messaging.aws_sqs_queue.dlq")
    assert set(queues) == set(dlqs) == set(topology["queues"])
    for name, spec in topology["queues"].items():
        assert queues[name]["name"] == prefix + name
        assert queues[name]["fifo_queue"] == bool(spec.get("fifo"))
        assert queues[name]["visibility_timeout_seconds"] == spec.get("visibility_timeout", 30)
        assert queues[name]["sqs_managed_sse_enabled"] is True
        assert dlqs[name]["name"] == prefix + dlq_name(name)
        assert dlqs[name]["message_retention_seconds"] == 1209600


def test_every_queue_and_dlq_has_its_alarm(plan: dict[str, Any], topology: dict[str, Any],
                                           services: dict[str, Any]) -> None:
    """A DLQ alarm (> 0 messages waiting, or > 0 received from a DLQ its worker drains) and an
    oldest-message alarm per topology queue."""
    prefix = plan["planned_values"]["outputs"]["name_prefix"]["value"]
    dlq = planned(plan, "module.observability.aws_cloudwatch_metric_alarm.dlq_messages")
    age = planned(plan, "module.observability.aws_cloudwatch_metric_alarm.queue_oldest_message")
    drained = {q for s in services.values() for q in s.get("worker", {}).get("dead_letters", [])}
    assert drained == {"media-jobs-uploads"}
    for name in topology["queues"]:
        assert dlq[name]["dimensions"] == {"QueueName": prefix + dlq_name(name)}
        assert (dlq[name]["threshold"], dlq[name]["comparison_operator"]) == (
            0, "GreaterThanThreshold")
        assert (dlq[name]["metric_name"], dlq[name]["statistic"]) == (
            ("NumberOfMessagesReceived", "Sum") if name in drained
            else ("ApproximateNumberOfMessagesVisible", "Maximum"))
        assert age[name]["dimensions"] == {"QueueName": prefix + name}
        assert age[name]["metric_name"] == "ApproximateAgeOfOldestMessage"


def test_subscriptions_are_raw_and_filtered(plan: dict[str, Any],
                                            topology: dict[str, Any]) -> None:
    """Each declared subscription delivers raw, filtered on its event types."""
    subscriptions = planned(plan, "module.messaging.aws_sns_topic_subscription.queue")
    expected = {f"{s['topic']}->{q}": sorted(s["event_types"])
                for q, spec in topology["queues"].items() for s in spec.get("subscriptions", [])}
    assert set(subscriptions) == set(expected)
    for key, types in expected.items():
        assert subscriptions[key]["raw_message_delivery"] is True
        assert json.loads(subscriptions[key]["filter_policy"]) == {"type": types}


def test_every_table_is_on_demand_recoverable_and_encrypted(
    plan: dict[str, Any], topology: dict[str, Any]
) -> None:
    """Tables: on demand, PITR, SSE, the declared keys, GSIs and TTL."""
    tables = planned(plan, "module.data.aws_dynamodb_table.this")
    assert set(tables) == set(topology["tables"])
    for name, spec in topology["tables"].items():
        table = tables[name]
        assert table["billing_mode"] == "PAY_PER_REQUEST"
        assert table["point_in_time_recovery"][0]["enabled"] is True
        assert table["server_side_encryption"][0]["enabled"] is True
        assert table["hash_key"] == spec["hash_key"]["name"]
        assert {g["name"] for g in table["global_secondary_index"]} == set(
            spec.get("indexes", {}))
        ttl = [t for t in table.get("ttl", []) if t.get("enabled")]
        assert [t["attribute_name"] for t in ttl] == ([spec["ttl"]] if "ttl" in spec else [])


def test_every_bucket_is_private_with_its_declared_rules(
    plan: dict[str, Any], topology: dict[str, Any]
) -> None:
    """Buckets: public access blocked, the topology's lifecycle rules, its notifications and
    its CORS rules (exposed headers included)."""
    blocks = planned(plan, "module.data.aws_s3_bucket_public_access_block.this")
    lifecycles = planned(plan, "module.data.aws_s3_bucket_lifecycle_configuration.this")
    notifications = planned(plan, "module.data.aws_s3_bucket_notification.this")
    cors = planned(plan, "module.data.aws_s3_bucket_cors_configuration.this")
    assert set(cors) == {name for name, spec in topology["buckets"].items() if "cors" in spec}
    for name, rules in cors.items():
        declared = topology["buckets"][name]["cors"]
        assert [(sorted(r["allowed_origins"]), sorted(r["allowed_methods"]),
                 sorted(r.get("expose_headers") or [])) for r in rules["cors_rule"]] == [
            (sorted(declared["allowed_origins"]), sorted(declared["allowed_methods"]),
             sorted(declared.get("expose_headers", [])))]
    assert set(blocks) == set(lifecycles) == set(topology["buckets"])
    for name, spec in topology["buckets"].items():
        assert all(blocks[name][k] for k in ("block_public_acls", "block_public_policy",
                                             "ignore_public_acls", "restrict_public_buckets"))
        rules = {r["id"]: r for r in lifecycles[name]["rule"]}
        for rule in spec.get("lifecycle", []):
            planned_rule = rules[rule["id"]]
            # A rule selects by a tag or by a key prefix (the insights lake's raw/).
            if "tag" in rule:
                assert planned_rule["filter"][0]["tag"] == [rule["tag"]]
            if "prefix" in rule:
                assert planned_rule["filter"][0]["prefix"] == rule["prefix"]
            transitions = rule.get("transitions", [rule.get("transition")])
            assert [t["storage_class"] for t in planned_rule["transition"]] \
                == [t["storage_class"] for t in transitions]
        if spec.get("notifications"):
            events = [q["events"] for q in notifications[name]["queue"]]
            assert events == [n["events"] for n in spec["notifications"]]
        else:
            assert name not in notifications


def test_every_process_runs_as_an_ecs_service(plan: dict[str, Any],
                                              services: dict[str, dict[str, Any]]) -> None:
    """An API service and, where declared, a worker service per service, with the declared
    sizes; workers on Spot in dev; one ECS deploy action each."""
    apis = planned(plan, "module.ecs.aws_ecs_service.api")
    workers = planned(plan, "module.ecs.aws_ecs_service.worker")
    tasks = planned(plan, "module.ecs.aws_ecs_task_definition.process")
    assert set(apis) == {f"{n}-api" for n in services}
    assert set(workers) == {f"{n}-worker" for n, s in services.items() if "worker" in s}
    for name, svc in services.items():
        api = tasks[f"{name}-api"]
        assert (api["cpu"], api["memory"]) == (str(svc["api"]["cpu"]), str(svc["api"]["memory"]))
        if "worker" in svc:
            worker = tasks[f"{name}-worker"]
            assert (worker["cpu"], worker["memory"]) == (
                str(svc["worker"]["cpu"]), str(svc["worker"]["memory"]))
            strategy = workers[f"{name}-worker"]["capacity_provider_strategy"]
            assert [s["capacity_provider"] for s in strategy] == ["FARGATE_SPOT"]
    assert tasks["media-jobs-worker"]["cpu"] == "1024"
    assert tasks["media-jobs-worker"]["memory"] == "2048"
    pipeline = planned(plan, "module.pipeline.aws_codepipeline.this")[""]
    deploy = [a for a in pipeline["stage"][-1]["action"] if a["provider"] == "ECS"]
    assert {a["name"]: a["configuration"]["FileName"] for a in deploy} == {
        process: f"imagedefinitions-{process.rsplit('-', 1)[0]}.json"
        for process in [*apis, *workers]}
    assert {tuple(a["input_artifacts"]) for a in deploy} == {("imagedefs",)}


def test_worker_containers_check_that_each_consumer_makes_progress(
    plan: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """A worker's container health check names every queue and drained DLQ it consumes (the
    files its consumers touch), with the stall time the worker is given; an API's checks
    /healthz as before."""
    tasks = containers(plan)
    assert set(tasks) == set(planned(plan, "module.ecs.aws_ecs_task_definition.process"))
    for name, svc in services.items():
        # The service's container, then the trace collector (var.tracing, on in envs/dev).
        api, collector = tasks[f"{name}-api"]
        assert api["healthCheck"]["command"] == ["CMD", "python", "/app/docker/healthcheck.py"]
        assert (collector["name"], collector["essential"]) == ("otel-collector", False)
        if "worker" not in svc:
            continue
        worker, _ = tasks[f"{name}-worker"]
        consumed = svc["worker"]["queues"] + [dlq_name(q) for q in
                                              svc["worker"].get("dead_letters", [])]
        check = worker["healthCheck"]
        relay = ["--relay", f"{name}-outbox"] if f"{name}-outbox" in svc["worker"].get(
            "tables", {}) else []
        assert check["command"] == ["CMD", "python", "/app/docker/healthcheck.py",
                                    *[a for q in consumed for a in ("--queue", q)],
                                    *relay], name
        assert (check["interval"], check["retries"], check["startPeriod"]) == (30, 3, 60)
        environment = {e["name"]: e.get("value") for e in worker["environment"]}
        assert float(environment["WORKER_STALL_SECONDS"]) > float(
            environment["WORKER_WAIT_TIME_SECONDS"]) * 3, name
    media = tasks["media-jobs-worker"][0]
    assert "media-jobs-uploads-dlq" in media["healthCheck"]["command"]


def test_the_web_publish_targets_the_planned_web_bucket(plan: dict[str, Any]) -> None:
    """The web-publish project's WEB_BUCKET is the edge module's bucket (its name is known
    at plan time; the distribution id is not, until apply); the images project gets
    neither."""
    project = planned(plan, "module.pipeline.aws_codebuild_project.web_publish")[""]
    variables = {v["name"]: v.get("value") for v in project["environment"][0]
                 ["environment_variable"]}
    assert set(variables) == {"WEB_BUCKET", "WEB_DISTRIBUTION_ID"}
    bucket = planned(plan, "module.edge.aws_s3_bucket.web")[""]
    assert variables["WEB_BUCKET"] == bucket["bucket"]
    assert project["source"][0]["buildspec"] == "buildspec-web.yml"
    assert project["environment"][0]["privileged_mode"] is False
    images = planned(plan, "module.pipeline.aws_codebuild_project.images")[""]
    assert not {v["name"] for v in images["environment"][0]["environment_variable"]} \
        & set(variables)


def test_the_web_app_is_published_after_every_ecs_deploy(plan: dict[str, Any]) -> None:
    """The Deploy stage comes after the build (and the approval, when required); in it the
    PublishWeb action runs after every ECS action, from the source and the `web` artifact."""
    pipeline = planned(plan, "module.pipeline.aws_codepipeline.this")[""]
    names = [s["name"] for s in pipeline["stage"]]
    assert names in (["Source", "Build", "Deploy"], ["Source", "Build", "Approve", "Deploy"])
    actions = pipeline["stage"][-1]["action"]
    ecs = [a for a in actions if a["provider"] == "ECS"]
    (publish,) = [a for a in actions if a["provider"] == "CodeBuild"]
    assert ecs and len(ecs) + 1 == len(actions)
    assert max(a["run_order"] for a in ecs) < publish["run_order"]
    assert publish["name"] == "PublishWeb" and publish["category"] == "Build"
    assert sorted(publish["input_artifacts"]) == ["source", "web"]
    assert publish["configuration"]["PrimarySource"] == "source"
    project = planned(plan, "module.pipeline.aws_codebuild_project.web_publish")[""]
    assert publish["configuration"]["ProjectName"] == project["name"]


def test_build_outputs_are_the_buildspecs_secondary_artifacts(plan: dict[str, Any]) -> None:
    """The pipeline's build action declares exactly the buildspec's secondary artifacts
    (`imagedefs` and `web`)."""
    import yaml

    pipeline = planned(plan, "module.pipeline.aws_codepipeline.this")[""]
    build = pipeline["stage"][1]["action"][0]
    secondary = yaml.safe_load((ROOT / "buildspec.yml").read_text())["artifacts"][
        "secondary-artifacts"]
    assert sorted(build["output_artifacts"]) == sorted(secondary) == ["imagedefs", "web"]
    assert build["configuration"]["PrimarySource"] == "source"


def test_alb_routes_each_prefix_to_its_target_group(plan: dict[str, Any],
                                                    services: dict[str, dict[str, Any]]) -> None:
    """One target group per API with the 3-tier health check, one `<prefix>*` rule each."""
    groups = planned(plan, "module.alb.aws_lb_target_group.api")
    rules = planned(plan, "module.alb.aws_lb_listener_rule.api")
    for name, svc in services.items():
        check = groups[name]["health_check"][0]
        assert (check["path"], check["interval"], check["healthy_threshold"],
                check["unhealthy_threshold"]) == ("/healthz", 30, 2, 5)
        assert groups[name]["port"] == svc["port"]
        assert rules[name]["condition"][0]["path_pattern"][0]["values"] == [f"{svc['prefix']}*"]
    listeners = planned(plan, "module.alb.aws_lb_listener.http_only")
    assert list(listeners) == ["0"], "without a certificate the first deploy is HTTP only"


def test_each_lake_and_schedule_is_planned(plan: dict[str, Any],
                                           services: dict[str, dict[str, Any]]) -> None:
    """Per `lake:` of services.yaml: its Glue database with the curated and raw tables, the
    workgroup on the lake's results/ zone; per `schedules:` entry: a schedule whose RunTask
    input runs the service's worker family with the declared command, on its own task role."""
    lakes = {name: svc["lake"]["bucket"] for name, svc in services.items() if "lake" in svc}
    schedules = {f"{name}-{task}": (name, spec) for name, svc in services.items()
                 for task, spec in svc.get("schedules", {}).items()}
    if not lakes and not schedules:
        pytest.skip("no service declares a lake or a schedule yet")
    buckets = planned(plan, "module.data.aws_s3_bucket.this")
    prefix = buckets[next(iter(lakes.values()))]["bucket"].removesuffix(
        next(iter(lakes.values()))) if lakes else ""
    for name in lakes:
        module = f'module.lake["{name}"]'
        tables = planned(plan, f"{module}.aws_glue_catalog_table.curated")
        assert set(tables) == {"events", "platform_events", "bad_rows"}
        for table, body in tables.items():
            template = body["parameters"]["storage.location.template"]
            assert template == f"s3://{prefix}{lakes[name]}/curated/{table}/dt=${{dt}}/"
        workgroup = planned(plan, f"{module}.aws_athena_workgroup.lake")[""]
        config = workgroup["configuration"][0]
        assert config["enforce_workgroup_configuration"] is True
        assert config["result_configuration"][0]["output_location"].endswith(
            f"{lakes[name]}/results/")
        assert planned(plan, f"{module}.aws_athena_named_query.this")
    planned_schedules = planned(plan, "module.schedules.aws_scheduler_schedule.task")
    assert set(planned_schedules) == set(schedules)
    for key, (service, spec) in schedules.items():
        schedule = planned_schedules[key]
        assert schedule["schedule_expression"] == f"rate({spec['every']})"
        target = schedule["target"][0]
        assert target["arn"] == "arn:aws:scheduler:::aws-sdk:ecs:runTask"
        body = json.loads(target["input"]) if target.get("input") else None
        if body is not None:
            assert body["TaskDefinition"] == f"regatta-dev-{service}-worker"
            assert body["Overrides"]["ContainerOverrides"] == [
                {"Name": service, "Command": spec["command"]}]
