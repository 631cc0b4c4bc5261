# Roles are never shared between services, and a service's API and worker never share one:
#   task role       one per process ("<service>-api", "<service>-worker"): what that process's
#                   code may do, exactly the tables, buckets, topics and queues
#                   infra/services.yaml gives that process (module.catalog), the platform key
#                   through those AWS services only, and SES for a process that sends mail.
#                   An internet-facing API therefore cannot consume its service's queues, and
#                   deletes only what its routes delete.
#                   A scheduled task (services.yaml schedules:, "<service>-<task>", kind
#                   "schedule") gets one the same way, from its own declaration: modules/schedules
#                   runs it under this role (EventBridge Scheduler, ECS RunTask).
#   execution role  one per service: what ECS does to start its tasks: pull its own image,
#                   write its own log
#                   group, read its own parameters and secrets (<stack>/<service>/...) when
#                   infra/services.yaml declares any
# No action is a wildcard; the one "*" resource is ecr:GetAuthorizationToken, which AWS does
# not scope to a resource.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  # A service reads SSM parameters / secrets only under its own path.
  parameter_arn = { for k, s in var.services : k => "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${var.name}/${k}/*" }
  secret_arn    = { for k, s in var.services : k => "arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:${var.name}/${k}/*" }
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    # Only ECS acting for this account may assume the roles (confused deputy).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account}:*"]
    }
  }
}

resource "aws_iam_role" "task" {
  for_each           = var.processes
  name               = "${var.name}-${each.key}-task"
  description        = each.value.kind == "schedule" ? "What the scheduled ${each.key} task's code may do" : "What the ${each.key} process's code may do"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task" {
  for_each = var.processes

  dynamic "statement" {
    for_each = var.task_statements[each.key]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }

  # Tables, buckets and topics are encrypted with the platform key: the process may use the
  # key through DynamoDB, S3 and SNS, never directly; a scheduled task, which publishes
  # nothing (module.catalog refuses it), through DynamoDB and S3 only.
  statement {
    sid       = "PlatformKeyThroughServices"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [for svc in concat(["dynamodb", "s3"], each.value.kind == "schedule" ? [] : ["sns"]) : "${svc}.${local.region}.amazonaws.com"]
    }
  }

  # The task's ADOT collector sends its spans to X-Ray and reads the sampling rules. X-Ray
  # gives these actions no resource-level permissions: "*" is the only resource they take.
  dynamic "statement" {
    for_each = var.tracing ? ["xray"] : []
    content {
      sid = "TracesToXRay"
      actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
      "xray:GetSamplingTargets"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = each.value.sends_mail && var.ses_identity_arn != "" ? [var.ses_identity_arn] : []
    content {
      sid       = "SendMail"
      actions   = ["ses:SendEmail", "ses:SendRawEmail"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  for_each = var.processes
  name     = "${each.key}-task"
  role     = aws_iam_role.task[each.key].id
  policy   = data.aws_iam_policy_document.task[each.key].json
}

resource "aws_iam_role" "execution" {
  for_each           = var.services
  name               = "${var.name}-${each.key}-exec"
  description        = "What ECS does to start the ${each.key} service's tasks"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  for_each = var.services

  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullOwnImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [var.repository_arns[each.key]]
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arns[each.key]}:*"]
  }

  dynamic "statement" {
    for_each = anytrue([for ref in values(each.value.secrets) : startswith(ref, "ssm:")]) ? [1] : []
    content {
      sid       = "ReadOwnParameters"
      actions   = ["ssm:GetParameters"]
      resources = [local.parameter_arn[each.key]]
    }
  }

  dynamic "statement" {
    for_each = anytrue([for ref in values(each.value.secrets) : startswith(ref, "secret:")]) ? [1] : []
    content {
      sid       = "ReadOwnSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [local.secret_arn[each.key]]
    }
  }

  statement {
    sid       = "PlatformKeyThroughServices"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [for svc in ["ecr", "ssm", "secretsmanager"] : "${svc}.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = var.services
  name     = "${each.key}-execution"
  role     = aws_iam_role.execution[each.key].id
  policy   = data.aws_iam_policy_document.execution[each.key].json
}
