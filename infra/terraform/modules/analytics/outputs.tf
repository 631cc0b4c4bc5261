output "database" {
  description = "Glue database holding the ticks table."
  value       = aws_glue_catalog_database.stocks.name
}

output "workgroup" {
  description = "Athena workgroup to query it with."
  value       = aws_athena_workgroup.analytics.name
}

output "results_bucket" {
  description = "Bucket of the query results."
  value       = aws_s3_bucket.results.id
}
