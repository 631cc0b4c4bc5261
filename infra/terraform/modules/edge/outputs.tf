output "distribution_arn" {
  description = "ARN of the distribution (the only reader the bucket policy admits)."
  value       = aws_cloudfront_distribution.media.arn
}

output "domain_name" {
  description = "The distribution's domain, e.g. d1234.cloudfront.net."
  value       = aws_cloudfront_distribution.media.domain_name
}
