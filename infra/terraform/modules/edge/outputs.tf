output "distribution_arn" {
  description = "ARN of the distribution (the only reader the bucket policies admit)."
  value       = aws_cloudfront_distribution.this.arn
}

output "distribution_id" {
  description = "Id of the distribution (the pipeline's web publish action invalidates the app's paths after a deploy)."
  value       = aws_cloudfront_distribution.this.id
}

output "domain_name" {
  description = "The distribution's domain, e.g. d1234.cloudfront.net."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "public_base_url" {
  description = "The platform's public origin, https://<custom domain or *.cloudfront.net name>: PUBLIC_BASE_URL (links the services hand out start with it)."
  value       = "https://${local.custom_domain ? var.domain_name : aws_cloudfront_distribution.this.domain_name}"
}

output "web_url" {
  description = "The web app (and, under their prefixes, the APIs)."
  value       = "https://${local.custom_domain ? var.domain_name : aws_cloudfront_distribution.this.domain_name}/"
}

output "media_base_url" {
  description = "Base URL of the media output files: MEDIA_PUBLIC_BASE_URL."
  value       = "https://${local.custom_domain ? var.domain_name : aws_cloudfront_distribution.this.domain_name}${local.outputs_path}"
}

output "web_acl_arn" {
  description = "The distribution's web ACL (empty when waf_enabled is false)."
  value       = var.waf_enabled ? aws_wafv2_web_acl.edge[0].arn : ""
}

output "web_bucket" {
  description = "Bucket web/dist is published to (by the pipeline's web publish action; by hand: `aws s3 sync web/dist s3://<bucket>`)."
  # The name, not the id: known at plan time, so the plan shows the publish project's WEB_BUCKET.
  value = aws_s3_bucket.web.bucket
}

output "web_bucket_arn" {
  description = "ARN of the web bucket (the pipeline's web publish role may write its objects)."
  value       = aws_s3_bucket.web.arn
}
