output "schedule_arns" {
  description = "EventBridge Scheduler schedule ARN by scheduled task (\"<service>-<task>\")."
  value       = { for k, s in aws_scheduler_schedule.task : k => s.arn }
}

output "scheduler_role_arns" {
  description = "The role EventBridge Scheduler assumes, by scheduled task."
  value       = { for k, r in aws_iam_role.scheduler : k => r.arn }
}
