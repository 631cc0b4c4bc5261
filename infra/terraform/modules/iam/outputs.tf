output "task_role_arns" {
  description = "Task role ARN by process (\"<service>-api\", \"<service>-worker\") and by scheduled task (\"<service>-<task>\")."
  value       = { for k, r in aws_iam_role.task : k => r.arn }
}

output "execution_role_arns" {
  description = "Execution role ARN by service."
  value       = { for k, r in aws_iam_role.execution : k => r.arn }
}

output "parameter_paths" {
  description = "SSM parameter path each service's secrets live under (/<stack>/<service>/)."
  value       = { for k, s in var.services : k => "/${var.name}/${k}/" }
}
