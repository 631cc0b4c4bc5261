output "alarm_topic_arn" {
  description = "Topic every alarm publishes to."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_url" {
  description = "The platform dashboard in the console."
  value       = "https://${data.aws_region.current.name}.console.aws.amazon.com/cloudwatch/home?region=${data.aws_region.current.name}#dashboards/dashboard/${aws_cloudwatch_dashboard.platform.dashboard_name}"
}
