output "repository_urls" {
  description = "Repository URLs by service."
  value       = { for k, r in aws_ecr_repository.service : k => r.repository_url }
}

output "repository_arns" {
  description = "Repository ARNs by service."
  value       = { for k, r in aws_ecr_repository.service : k => r.arn }
}

output "registry" {
  description = "The account's registry host, <account>.dkr.ecr.<region>.amazonaws.com."
  value       = split("/", values(aws_ecr_repository.service)[0].repository_url)[0]
}
