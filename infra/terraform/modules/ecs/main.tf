# The cluster and, for every process of module.catalog.processes, a task definition and an
# ECS service: "<service>-api" behind its target group, "<service>-worker" where the service
# consumes queues. Both processes of a service run the service's image with their own command;
# the container is named after the service, so one imagedefinitions-<service>.json (buildspec)
# deploys both.
#
# Terraform owns everything but the running image: the pipeline registers a new revision per
# push, and Terraform ignores the services' task_definition and desired_count (autoscaling).
# After changing a task definition here, roll it out with the next push or
# `aws ecs update-service --cluster <cluster> --service <name> --task-definition <family>`.
#
# With var.tracing, every task also runs an ADOT collector beside the service's container: the
# service sends its spans by OTLP/HTTP to 127.0.0.1:4318 (OTEL_EXPORTER_OTLP_ENDPOINT), the
# collector batches them to X-Ray with the task role (docs/telemetry.md).

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  region = data.aws_region.current.name

  spec = {
    for key, p in var.processes : key => {
      service = p.service
      kind    = p.kind
      svc     = var.services[p.service]
      command = p.kind == "api" ? var.services[p.service].api.command : var.services[p.service].worker.command
      # services.yaml sizes the process (256/512 unless it says otherwise); an environment
      # may resize it through var.task_sizes.
      cpu    = try(var.task_sizes[key].cpu, p.kind == "api" ? var.services[p.service].api.cpu : var.services[p.service].worker.cpu)
      memory = try(var.task_sizes[key].memory, p.kind == "api" ? var.services[p.service].api.memory : var.services[p.service].worker.memory)
      # uvicorn stops within seconds; a worker gets its drain budget plus a margin (max 120).
      stop_timeout = p.kind == "api" ? 30 : var.services[p.service].worker.stop_timeout
    }
  }

  api_processes    = { for key, p in var.processes : key => p if p.kind == "api" }
  worker_processes = { for key, p in var.processes : key => p if p.kind == "worker" }

  environment = {
    for key, s in local.spec : key => merge(
      var.environment,
      s.kind == "worker" ? {
        WORKER_STOP_TIMEOUT      = tostring(s.svc.worker.drain_seconds)
        WORKER_WAIT_TIME_SECONDS = "20"
        # The health check fails when a consumer's loop made no progress for this long.
        WORKER_STALL_SECONDS = "120"
      } : {},
      # uvicorn's --forwarded-allow-ips: the proxies whose X-Forwarded-* headers it believes.
      s.kind == "api" ? { FORWARDED_ALLOW_IPS = var.forwarded_allow_ips } : {},
      # shared.telemetry traces when an OTLP endpoint is set: the collector in the same task.
      var.tracing ? { OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318" } : {},
      { for k, v in s.svc.environment : k => tostring(v) },
      { for k, v in s.svc.platform_env : k => var.platform_values[v] if var.platform_values[v] != "" },
    )
  }

  secrets = {
    for key, s in local.spec : key => [
      for env_name, ref in s.svc.secrets : {
        name = env_name
        valueFrom = (startswith(ref, "ssm:")
          ? "arn:${data.aws_partition.current.partition}:ssm:${local.region}:${data.aws_caller_identity.current.account_id}:parameter/${var.name}/${s.service}/${trimprefix(ref, "ssm:")}"
        : "${var.name}/${s.service}/${trimprefix(ref, "secret:")}")
      }
    ]
  }

  # The collector's whole configuration (AOT_CONFIG_CONTENT): OTLP/HTTP in on the task's
  # loopback only, batched, out to X-Ray in the task's region; its health on :13133.
  collector_config = yamlencode({
    extensions = { health_check = { endpoint = "127.0.0.1:13133" } }
    receivers  = { otlp = { protocols = { http = { endpoint = "127.0.0.1:4318" } } } }
    processors = {
      batch             = { timeout = "1s", send_batch_size = 50 }
      memory_limiter    = { check_interval = "1s", limit_mib = var.collector_memory - 16 }
      resourcedetection = { detectors = ["env", "ecs"], override = false }
    }
    exporters = {
      awsxray = {
        region = local.region
        # Searchable in X-Ray (annotations): the event a worker span handled.
        indexed_attributes = ["cloudevents.event_type", "messaging.destination.name"]
      }
    }
    service = {
      extensions = ["health_check"]
      pipelines = {
        traces = {
          receivers  = ["otlp"]
          processors = ["memory_limiter", "resourcedetection", "batch"]
          exporters  = ["awsxray"]
        }
      }
    }
  })

  # The sidecar: not essential (a collector that dies costs traces, never requests), started
  # before the service's container so the first spans find it.
  collector_container = {
    for key, s in local.spec : key => {
      name                   = "otel-collector"
      image                  = var.collector_image
      essential              = false
      user                   = "10001"
      readonlyRootFilesystem = true
      memoryReservation      = var.collector_memory
      mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
      environment            = [{ name = "AOT_CONFIG_CONTENT", value = local.collector_config }]
      healthCheck = {
        command     = ["/healthcheck"]
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 10
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service[s.service].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "${s.kind}-collector"
          mode                  = "non-blocking"
          max-buffer-size       = "1m"
        }
      }
    }
  }

  collector_dependency = {
    for key, s in local.spec : key => {
      dependsOn = [{ containerName = "otel-collector", condition = "START" }]
    } if var.tracing
  }

  # Keys only API containers have: the port and the same health check as the image's.
  api_container = {
    for key, s in local.spec : key => {
      portMappings = [{ containerPort = s.svc.port, protocol = "tcp", name = "http" }]
      healthCheck = {
        command     = ["CMD", "python", "/app/docker/healthcheck.py"]
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
    } if s.kind == "api"
  }

  # A worker's check: each consumer (of a queue, or of a DLQ it drains; dlq_name()'s rule)
  # and its outbox relay (module.catalog's relay: a worker writing its service's outbox table
  # runs one) made progress within WORKER_STALL_SECONDS (docker/healthcheck.py,
  # shared/health.py). An unhealthy worker task is replaced.
  worker_container = {
    for key, s in local.spec : key => {
      healthCheck = {
        command = concat(["CMD", "python", "/app/docker/healthcheck.py"], flatten([
          for q in concat(s.svc.worker.queues, [
            for d in s.svc.worker.dead_letters : endswith(d, ".fifo") ? "${trimsuffix(d, ".fifo")}-dlq.fifo" : "${d}-dlq"
          ]) : ["--queue", q]
        ]), s.svc.worker.relay ? ["--relay", "${s.service}-outbox"] : [])
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 60
      }
    } if s.kind == "worker"
  }

  # Each task definition's containers: the service's, then the collector (var.tracing). Kept
  # as a value (the task definition encodes it) so that a plan shows the parts known before
  # apply (health checks, most of the environment); the encoded string is unknown until the
  # image's repository and the Cognito ids exist.
  containers = {
    for key, s in local.spec : key => concat([merge(
      {
        name                   = s.service
        image                  = "${var.repository_urls[s.service]}:${var.image_tag}"
        essential              = true
        command                = s.command
        user                   = "10001"
        readonlyRootFilesystem = true
        stopTimeout            = s.stop_timeout
        environment            = [for k in sort(keys(local.environment[key])) : { name = k, value = local.environment[key][k] }]
        secrets                = local.secrets[key]
        mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
        # An init process reaps ffmpeg's children and forwards SIGTERM to the service.
        linuxParameters = { initProcessEnabled = true }
        logConfiguration = {
          logDriver = "awslogs"
          options = {
            awslogs-group         = aws_cloudwatch_log_group.service[s.service].name
            awslogs-region        = local.region
            awslogs-stream-prefix = s.kind
            mode                  = "non-blocking"
            max-buffer-size       = "4m"
          }
        }
      },
      try(local.api_container[key], {}),
      try(local.worker_container[key], {}),
      try(local.collector_dependency[key], {}),
    )], var.tracing ? [local.collector_container[key]] : [])
  }
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights
  }

  # Should an operator enable ECS Exec on a service, sessions are encrypted and logged.
  configuration {
    execute_command_configuration {
      kms_key_id = var.kms_key_arn
      logging    = "OVERRIDE"
      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.exec.name
      }
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_cloudwatch_log_group" "exec" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days, chosen per environment (30 days in dev for cost); raise it where a compliance regime asks for a year
  name              = "/ecs/${var.name}/exec"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# One group per service; streams api/<task> and worker/<task>.
resource "aws_cloudwatch_log_group" "service" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days, chosen per environment (30 days in dev for cost); raise it where a compliance regime asks for a year
  for_each          = var.services
  name              = "/ecs/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_task_definition" "process" {
  for_each                 = local.spec
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(each.value.cpu)
  memory                   = tostring(each.value.memory)
  # Each process its own task role: the API's cannot consume the worker's queues.
  task_role_arn      = var.task_role_arns[each.key]
  execution_role_arn = var.execution_role_arns[each.value.service]

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  dynamic "ephemeral_storage" {
    for_each = each.value.kind == "worker" && try(each.value.svc.worker.ephemeral_gib, null) != null ? [each.value.svc.worker.ephemeral_gib] : []
    content {
      size_in_gib = ephemeral_storage.value
    }
  }

  # The root filesystem is read-only; /tmp (ffmpeg's scratch space) is task storage.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode(local.containers[each.key])
}

resource "aws_ecs_service" "api" {
  for_each                           = local.api_processes
  name                               = each.key
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.process[each.key].arn
  desired_count                      = var.api_min_count
  platform_version                   = "LATEST"
  health_check_grace_period_seconds  = 60
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.api_security_group_id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = var.target_group_arns[each.value.service]
    container_name   = each.value.service
    container_port   = var.services[each.value.service].port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count, task_definition]
  }

  depends_on = [aws_ecs_cluster_capacity_providers.this]
}

resource "aws_ecs_service" "worker" {
  for_each                           = local.worker_processes
  name                               = each.key
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.process[each.key].arn
  desired_count                      = var.worker_min_count
  platform_version                   = "LATEST"
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  capacity_provider_strategy {
    capacity_provider = var.workers_on_spot ? "FARGATE_SPOT" : "FARGATE"
    weight            = 1
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.worker_security_group_id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count, task_definition]
  }

  depends_on = [aws_ecs_cluster_capacity_providers.this]
}

resource "aws_appautoscaling_target" "process" {
  for_each           = var.processes
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${each.key}"
  min_capacity       = each.value.kind == "api" ? var.api_min_count : var.worker_min_count
  max_capacity       = each.value.kind == "api" ? var.api_max_count : var.worker_max_count
  depends_on         = [aws_ecs_service.api, aws_ecs_service.worker]
}

resource "aws_appautoscaling_policy" "api_cpu" {
  for_each           = local.api_processes
  name               = "${each.key}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.process[each.key].service_namespace
  scalable_dimension = aws_appautoscaling_target.process[each.key].scalable_dimension
  resource_id        = aws_appautoscaling_target.process[each.key].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.api_cpu_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# AWS's recommended queue scaling: track the backlog per task (visible messages / running
# tasks) at the backlog one task can clear within the acceptable latency
# (services.yaml backlog_per_task), rather than the raw queue depth.
resource "aws_appautoscaling_policy" "worker_backlog" {
  for_each           = local.worker_processes
  name               = "${each.key}-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.process[each.key].service_namespace
  scalable_dimension = aws_appautoscaling_target.process[each.key].scalable_dimension
  resource_id        = aws_appautoscaling_target.process[each.key].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.services[each.value.service].worker.backlog_per_task
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    customized_metric_specification {
      dynamic "metrics" {
        for_each = var.services[each.value.service].worker.queues
        content {
          id          = "q${metrics.key}"
          return_data = false
          metric_stat {
            stat = "Sum"
            metric {
              namespace   = "AWS/SQS"
              metric_name = "ApproximateNumberOfMessagesVisible"
              dimensions {
                name  = "QueueName"
                value = var.queue_names[metrics.value]
              }
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.this.name
            }
            dimensions {
              name  = "ServiceName"
              value = each.key
            }
          }
        }
      }

      metrics {
        id          = "backlog"
        label       = "Visible messages per running task"
        return_data = true
        expression = format("IF(tasks > 0, (%s) / tasks, %s)",
          join(" + ", [for i, q in var.services[each.value.service].worker.queues : "q${i}"]),
        join(" + ", [for i, q in var.services[each.value.service].worker.queues : "q${i}"]))
      }
    }
  }
}
