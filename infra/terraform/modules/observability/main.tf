# What pages someone: a dead letter anywhere, a queue falling behind, 5xx at the ALB, an API
# without healthy targets, an ECS service with no running task; and from the services' own
# metrics (CloudWatch Embedded Metric Format lines in their logs, namespace Regatta,
# docs/telemetry.md): a worker whose handler keeps failing, an API answering 5xx. All alarms
# go to one encrypted SNS topic (subscribe mail, chat or a pager to it); the dashboard shows
# the same.

data "aws_region" "current" {}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.key
}

locals {
  actions = [aws_sns_topic.alarms.arn]
}

# A DLQ its service drains holds a message for seconds only, and SQS counts a redriven message
# in neither its NumberOfMessagesSent nor (once drained) its visible messages: the alarm counts
# what the service received from it instead.
resource "aws_cloudwatch_metric_alarm" "dlq_messages" {
  for_each            = var.queues
  alarm_name          = "${var.name}-dlq-${each.value.dlq}"
  alarm_description   = each.value.dlq_drained ? "Messages of ${each.key} failed every delivery and reached ${each.value.dlq_physical}; its worker recorded them as failed (see the service's failed events)" : "Messages of ${each.key} failed ${each.value.max_receive_count} times and wait in ${each.value.dlq_physical} (regatta dlq ${each.key})"
  namespace           = "AWS/SQS"
  metric_name         = each.value.dlq_drained ? "NumberOfMessagesReceived" : "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value.dlq_physical }
  statistic           = each.value.dlq_drained ? "Sum" : "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "queue_oldest_message" {
  for_each            = var.queues
  alarm_name          = "${var.name}-queue-age-${each.key}"
  alarm_description   = "The oldest message of ${each.value.physical} has waited too long: its worker is down, stuck or too few"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value.physical }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = max(var.oldest_message_age_seconds, 5 * each.value.visibility_timeout)
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  alarm_name          = "${var.name}-alb-5xx"
  alarm_description   = "5xx responses at the ALB (its own and the targets') over 5 minutes"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alb_5xx_threshold
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "total"
    expression  = "FILL(elb, 0) + FILL(targets, 0)"
    label       = "5xx responses"
    return_data = true
  }

  metric_query {
    id = "elb"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "targets"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      stat        = "Sum"
      period      = 300
    }
  }
}

# Failed deliveries are retried, so one failure pages nobody; a handler failing again and again
# does, well before its messages have used up their receives and reach the DLQ.
resource "aws_cloudwatch_metric_alarm" "worker_failures" {
  for_each            = var.queues
  alarm_name          = "${var.name}-worker-failures-${each.key}"
  alarm_description   = "The ${each.value.owner} worker failed more than ${var.worker_failures_threshold} records of ${each.key} in 5 minutes (its message.failed log lines say why)"
  namespace           = var.metrics_namespace
  metric_name         = "RecordsFailed"
  dimensions          = { Service = each.value.owner, Queue = each.key }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.worker_failures_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# Counted by the service itself, so it names the API (the ALB alarm counts them all).
resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  for_each            = var.target_group_arn_suffixes
  alarm_name          = "${var.name}-api-5xx-${each.key}"
  alarm_description   = "The ${each.key} API answered more than ${var.api_5xx_threshold} requests with a 5xx in 5 minutes (its request and request.failed log lines carry trace ids)"
  namespace           = var.metrics_namespace
  metric_name         = "Requests"
  dimensions          = { Service = each.key, StatusClass = "5xx" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.api_5xx_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_targets" {
  for_each            = var.target_group_arn_suffixes
  alarm_name          = "${var.name}-unhealthy-${each.key}"
  alarm_description   = "${each.key}: a target fails the /healthz check"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "no_healthy_targets" {
  for_each            = var.target_group_arn_suffixes
  alarm_name          = "${var.name}-no-healthy-${each.key}"
  alarm_description   = "${each.key}: no healthy target, so every request gets a 503"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = each.value }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "running_tasks" {
  for_each            = var.ecs_services
  alarm_name          = "${var.name}-running-${each.key}"
  alarm_description   = "ECS service ${each.key} runs no task"
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  dimensions          = { ClusterName = var.cluster_name, ServiceName = each.key }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_dashboard" "platform" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "ALB requests and 5xx"
          region = data.aws_region.current.name
          stat   = "Sum"
          period = 60
          metrics = [
            ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix],
            ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
            ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "Latency by API (p99)"
          region  = data.aws_region.current.name
          stat    = "p99"
          period  = 60
          metrics = [for k, tg in var.target_group_arn_suffixes : ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, "TargetGroup", tg, { label = k }]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "CPU by ECS service (%)"
          region  = data.aws_region.current.name
          stat    = "Average"
          period  = 60
          metrics = [for s in sort(tolist(var.ecs_services)) : ["AWS/ECS", "CPUUtilization", "ClusterName", var.cluster_name, "ServiceName", s]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Running tasks by ECS service"
          region  = data.aws_region.current.name
          stat    = "Average"
          period  = 60
          metrics = [for s in sort(tolist(var.ecs_services)) : ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", var.cluster_name, "ServiceName", s]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title   = "Queue depth (visible)"
          region  = data.aws_region.current.name
          stat    = "Maximum"
          period  = 60
          metrics = [for k, q in var.queues : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q.physical, { label = k }]]
        }
      },
      {
        type = "metric", x = 0, y = 18, width = 12, height = 6
        properties = {
          title   = "Worker records failed"
          region  = data.aws_region.current.name
          stat    = "Sum"
          period  = 60
          metrics = [for k, q in var.queues : [var.metrics_namespace, "RecordsFailed", "Service", q.owner, "Queue", k, { label = k }]]
        }
      },
      {
        type = "metric", x = 12, y = 18, width = 12, height = 6
        properties = {
          title   = "Queue lag, send to receive (p99, ms)"
          region  = data.aws_region.current.name
          stat    = "p99"
          period  = 60
          metrics = [for k, q in var.queues : [var.metrics_namespace, "QueueLag", "Service", q.owner, "Queue", k, { label = k }]]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title   = "Dead letters"
          region  = data.aws_region.current.name
          stat    = "Maximum"
          period  = 60
          metrics = [for k, q in var.queues : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q.dlq_physical, { label = q.dlq }]]
        }
      },
    ]
  })
}
