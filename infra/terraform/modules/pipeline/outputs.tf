output "pipeline_name" {
  description = "The pipeline."
  value       = aws_codepipeline.this.name
}

output "pipeline_url" {
  description = "The pipeline in the console."
  value       = "https://${local.region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/${aws_codepipeline.this.name}/view?region=${local.region}"
}

output "connection_arn" {
  description = "The GitHub connection (PENDING until its handshake is completed in the console)."
  value       = local.connection_arn
}

output "artifacts" {
  description = "Build output artifact (buildspec secondary artifact identifier) by service."
  value       = local.artifacts
}
