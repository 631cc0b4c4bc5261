output "table_arns" {
  description = "Table ARNs by logical name."
  value       = { for k, t in aws_dynamodb_table.this : k => t.arn }
}

output "bucket_names" {
  description = "Physical bucket names by logical name."
  value       = { for k, b in aws_s3_bucket.this : k => b.id }
}

output "bucket_arns" {
  description = "Bucket ARNs by logical name."
  value       = { for k, b in aws_s3_bucket.this : k => b.arn }
}

output "bucket_regional_domain_names" {
  description = "Regional domain names by logical bucket name (CloudFront origins)."
  value       = { for k, b in aws_s3_bucket.this : k => b.bucket_regional_domain_name }
}
