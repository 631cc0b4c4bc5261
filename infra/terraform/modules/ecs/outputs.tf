output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "The ECS cluster's ARN."
  value       = aws_ecs_cluster.this.arn
}

output "service_names" {
  description = "ECS service name by process (\"<service>-api\", \"<service>-worker\")."
  value       = merge({ for k, s in aws_ecs_service.api : k => s.name }, { for k, s in aws_ecs_service.worker : k => s.name })
}

output "service_arns" {
  description = "ECS service ARN by process."
  value       = merge({ for k, s in aws_ecs_service.api : k => s.id }, { for k, s in aws_ecs_service.worker : k => s.id })
}

output "log_group_arns" {
  description = "Log group ARN by service."
  value       = { for k, g in aws_cloudwatch_log_group.service : k => g.arn }
}

output "log_group_names" {
  description = "Log group name by service."
  value       = { for k, g in aws_cloudwatch_log_group.service : k => g.name }
}

output "task_definition_families" {
  description = "Task definition family by process."
  value       = { for k, t in aws_ecs_task_definition.process : k => t.family }
}

output "containers" {
  description = "Each task definition's container definitions by process, as a value (the task definition's container_definitions is their JSON): a plan shows the parts known before apply."
  value       = local.containers
}
