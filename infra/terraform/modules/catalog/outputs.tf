output "topics" {
  description = "Topics by logical name: owner, fifo, email_subscription, physical, arn."
  value       = local.topics
}

output "queues" {
  description = "Queues by logical name, with their DLQ and the ARNs allowed to send to them."
  value       = local.queues
}

output "subscriptions" {
  description = "Topic-to-queue subscriptions by \"topic->queue\", with their filter policy."
  value       = local.subscriptions
}

output "tables" {
  description = "Tables by logical name: keys, attributes, indexes, ttl, physical, arn."
  value       = local.tables
}

output "buckets" {
  description = "Buckets by logical name: versioning, notifications, lifecycle, cors, physical, arn."
  value       = local.buckets
}

output "services" {
  description = "Services by name, as infra/services.yaml declares them, defaults applied."
  value       = local.services

  precondition {
    condition     = length(local.problems) == 0
    error_message = "infra/services.yaml does not agree with infra/topology.yaml: ${join("; ", local.problems)}"
  }
}

output "api_services" {
  description = "The services that serve HTTP behind the ALB."
  value       = local.api_services
}

output "worker_services" {
  description = "The services that run a queue worker."
  value       = local.worker_services
}

output "processes" {
  description = "Every ECS service to run, \"<service>-api\" / \"<service>-worker\" => {service, kind}."
  value       = local.processes
}

output "process_access" {
  description = "What each task role's code may touch, by process (\"<service>-api\", \"<service>-worker\") and by scheduled task (\"<service>-<task>\", kind schedule): service, kind, tables, buckets, publishes, sends_to, queues, dead_letters, sends_mail."
  value       = local.all_access
}

output "task_statements" {
  description = "Each task role's statements on topology resources (processes and scheduled tasks, as process_access): sid, actions, resources."
  value       = local.task_statements
}

output "schedules" {
  description = "Scheduled tasks by \"<service>-<task>\" (services.yaml schedules:): service, task, command, schedule_expression, the process whose task definition they run."
  value       = local.schedules
}

output "lakes" {
  description = "Lakes by service (services.yaml lake:): the bucket whose zones modules/lake catalogues for Athena (logical, physical, arn)."
  value       = local.lakes
}

output "name_prefix" {
  description = "The prefix of every physical topology name (REGATTA_NAME_PREFIX)."
  value       = var.name_prefix
}
