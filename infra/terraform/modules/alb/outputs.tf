output "dns_name" {
  description = "The ALB's DNS name."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "The ALB's hosted zone, for a Route 53 alias."
  value       = aws_lb.this.zone_id
}

output "arn" {
  description = "The ALB's ARN (CloudFront's VPC origin points at it)."
  value       = aws_lb.this.arn
}

output "https" {
  description = "Whether the ALB serves HTTPS (CloudFront then connects over HTTPS)."
  value       = local.https
}

output "arn_suffix" {
  description = "The ALB's CloudWatch dimension value."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arns" {
  description = "Target group ARNs by service."
  value       = { for k, tg in aws_lb_target_group.api : k => tg.arn }
}

output "target_group_arn_suffixes" {
  description = "Target groups' CloudWatch dimension values by service."
  value       = { for k, tg in aws_lb_target_group.api : k => tg.arn_suffix }
}

output "listener_rule_arns" {
  description = "Path rules by service (the ECS services wait for them)."
  value       = { for k, r in aws_lb_listener_rule.api : k => r.arn }
}
