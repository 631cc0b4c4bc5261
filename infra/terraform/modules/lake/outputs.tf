output "database" {
  description = "Glue database of the lake's tables (events, platform_events, bad_rows, raw_web)."
  value       = aws_glue_catalog_database.lake.name
}

output "workgroup" {
  description = "Athena workgroup to query them with (results under results/ of the lake, scans capped)."
  value       = aws_athena_workgroup.lake.name
}

output "tables" {
  description = "Glue table names by table (events, platform_events, bad_rows, raw_web)."
  value       = merge({ for k, t in aws_glue_catalog_table.curated : k => t.name }, { raw_web = aws_glue_catalog_table.raw_web.name })
}

output "named_queries" {
  description = "The analysts' saved queries by name (Athena > Saved queries, in the workgroup)."
  value       = { for k, q in aws_athena_named_query.this : k => q.id }
}
