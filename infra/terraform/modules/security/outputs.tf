output "alb_security_group_id" {
  description = "The ALB's group."
  value       = aws_security_group.alb.id
}

output "api_security_group_id" {
  description = "The API tasks' group."
  value       = aws_security_group.api.id
}

output "worker_security_group_id" {
  description = "The worker tasks' group."
  value       = aws_security_group.worker.id
}
