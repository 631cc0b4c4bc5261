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

output "web_publish_project" {
  description = "The CodeBuild project that publishes the web app (the pipeline's last action)."
  value       = aws_codebuild_project.web_publish.name
}
