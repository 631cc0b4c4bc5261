# Tasks a service runs on a timer (services.yaml `schedules:`, through module.catalog), e.g.
# the insights compaction every 5 minutes. Each is an EventBridge Scheduler schedule that calls
# ECS RunTask (a universal target, so that it can override the command and the task role) on
# the service's own task definition family: its latest revision, the image the pipeline
# deployed last, the same environment as the service's process. Roles, none shared:
#
#   task role       one per scheduled task, built by module.iam like a process's (the catalog
#                   hands it the scheduled task as one more process): exactly the tables and
#                   buckets its declaration gives it, the platform key through DynamoDB and
#                   S3, X-Ray for the task's trace collector (var.task_role_arns)
#   scheduler role  one per scheduled task, here, assumed by EventBridge Scheduler for this
#                   account only: RunTask of that one family in this cluster, PassRole of that
#                   task role and the service's execution role to ECS tasks only, the
#                   schedule's key
#
# The task runs in the app subnets with the workers' security group (egress only).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition

  family_arn = {
    for key, s in var.schedules : key =>
    "arn:${local.partition}:ecs:${local.region}:${local.account}:task-definition/${var.task_definition_families[s.process]}"
  }
  cluster_name = element(split("/", var.cluster_arn), 1)
}

# --- the scheduler's role ----------------------------------------------------------------------

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  for_each           = var.schedules
  name               = "${var.name}-${each.key}-scheduler"
  description        = "EventBridge Scheduler starts the ${each.key} task"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "scheduler" {
  for_each = var.schedules

  statement {
    sid       = "RunTheTask"
    actions   = ["ecs:RunTask"]
    resources = ["${local.family_arn[each.key]}:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.cluster_arn]
    }
  }

  # The task's tags (propagated from its task definition) are set when it starts.
  statement {
    sid       = "TagTheTask"
    actions   = ["ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account}:task/${local.cluster_name}/*"]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "PassTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [var.task_role_arns[each.key], var.execution_role_arns[each.value.service]]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  # The schedule is encrypted with the platform key.
  statement {
    sid       = "ReadTheSchedule"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  for_each = var.schedules
  name     = "${each.key}-scheduler"
  role     = aws_iam_role.scheduler[each.key].id
  policy   = data.aws_iam_policy_document.scheduler[each.key].json
}

# --- the schedules ---------------------------------------------------------------------------

resource "aws_scheduler_schedule" "task" {
  for_each    = var.schedules
  name        = "${var.name}-${each.key}"
  description = "Runs ${join(" ", each.value.command)} (${each.value.schedule_expression})"

  schedule_expression = each.value.schedule_expression
  state               = var.enabled ? "ENABLED" : "DISABLED"
  kms_key_arn         = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    # ECS RunTask through the AWS SDK: the templated ECS target cannot override the command
    # or the task role. The family without a revision runs its latest revision.
    arn      = "arn:aws:scheduler:::aws-sdk:ecs:runTask"
    role_arn = aws_iam_role.scheduler[each.key].arn
    input = jsonencode({
      Cluster        = var.cluster_arn
      TaskDefinition = var.task_definition_families[each.value.process]
      Count          = 1
      CapacityProviderStrategy = [{
        CapacityProvider = var.on_spot ? "FARGATE_SPOT" : "FARGATE"
        Weight           = 1
      }]
      NetworkConfiguration = {
        AwsvpcConfiguration = {
          Subnets        = var.subnet_ids
          SecurityGroups = [var.security_group_id]
          AssignPublicIp = "DISABLED"
        }
      }
      Overrides = {
        TaskRoleArn = var.task_role_arns[each.key]
        ContainerOverrides = [{
          # module.ecs names the service's container after the service.
          Name    = each.value.service
          Command = each.value.command
        }]
      }
      PropagateTags = "TASK_DEFINITION"
      StartedBy     = substr("schedule-${each.key}", 0, 36)
    })

    # A run that cannot start is retried briefly; the next one is minutes away anyway.
    retry_policy {
      maximum_event_age_in_seconds = 240
      maximum_retry_attempts       = 2
    }
  }
}
