output "topic_arns" {
  description = "Topic ARNs by logical name."
  value       = { for k, t in aws_sns_topic.this : k => t.arn }
}

output "queue_arns" {
  description = "Queue ARNs by logical name, available once their policies accept senders."
  value       = { for k, q in aws_sqs_queue.queue : k => q.arn }
  depends_on  = [aws_sqs_queue_policy.queue]
}

output "queue_names" {
  description = "Physical queue names by logical name."
  value       = { for k, q in aws_sqs_queue.queue : k => q.name }
}

output "dlq_names" {
  description = "Physical DLQ names by the logical name of their queue."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.name }
}
