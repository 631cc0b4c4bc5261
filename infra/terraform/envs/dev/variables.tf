variable "region" {
  description = "AWS region of the whole stack."
  type        = string
  default     = "us-east-1"
}

variable "project" {
  description = "Project name, first part of every stack resource name."
  type        = string
  default     = "regatta"
}

variable "environment" {
  description = "Environment name (dev, staging, prod): second part of every name, REGATTA_ENV."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment: 2-10 lower-case letters and digits."
  }
}

variable "name_prefix" {
  description = "Prefix of every topology resource's physical name (REGATTA_NAME_PREFIX). Empty: <project>-<environment>-<account id>- (bucket names are global)."
  type        = string
  default     = ""
}

variable "github_repository" {
  description = "GitHub repository the pipeline builds, owner/name."
  type        = string
}

variable "github_branch" {
  description = "Branch whose pushes deploy."
  type        = string
  default     = "main"
}

variable "codestar_connection_arn" {
  description = "An existing CodeStar Connections ARN for GitHub; empty: create one (then complete it in the console)."
  type        = string
  default     = ""
}

variable "certificate_arn" {
  description = "ACM certificate (this region) for HTTPS between CloudFront and the internal ALB (needs alb_origin_domain); empty: HTTP from CloudFront's VPC origin, inside AWS's network."
  type        = string
  default     = ""
}

variable "alb_origin_domain" {
  description = "The name certificate_arn covers, which CloudFront connects to the ALB by over HTTPS; empty: the ALB's own DNS name."
  type        = string
  default     = ""
}

variable "domain_name" {
  description = "Custom domain for the platform (e.g. regatta.example.com): an ACM certificate in us-east-1 validated through DNS, CloudFront's alias and Route 53 A/AAAA records. Empty: the *.cloudfront.net name."
  type        = string
  default     = ""
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of domain_name (required with it)."
  type        = string
  default     = ""
}

variable "image_tag" {
  description = "Image tag the task definitions start with, before the pipeline's first deploy."
  type        = string
  default     = "bootstrap"
}

variable "vpc_cidr" {
  description = "VPC CIDR block."
  type        = string
  default     = "10.0.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both AZs (saves about $33/month; an AZ outage then cuts the other AZ's outbound traffic)."
  type        = bool
  default     = true
}

variable "enable_interface_endpoints" {
  description = "Interface endpoints for ECR, Logs, SQS, SNS (about $73/month in 2 AZs; worth it when NAT traffic costs more)."
  type        = bool
  default     = false
}

variable "waf_enabled" {
  description = "WAF web ACL on CloudFront, with a per-client-IP rate limit (about $8/month plus $0.60 per million requests)."
  type        = bool
  default     = true
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes one client address may make before the edge WAF blocks it."
  type        = number
  default     = 2000
}

variable "workers_on_spot" {
  description = "Run the queue workers on Fargate Spot."
  type        = bool
  default     = true
}

variable "task_sizes" {
  description = "Per-process Fargate size overriding infra/services.yaml (default 256 CPU units / 512 MiB; media-jobs worker 1024 / 2048)."
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {}
}

variable "api_min_count" {
  description = "Fewest tasks per API service."
  type        = number
  default     = 1
}

variable "api_max_count" {
  description = "Most tasks per API service."
  type        = number
  default     = 3
}

variable "worker_min_count" {
  description = "Fewest tasks per worker service (at least 1)."
  type        = number
  default     = 1
}

variable "worker_max_count" {
  description = "Most tasks per worker service."
  type        = number
  default     = 3
}

variable "log_retention_days" {
  description = "Days container, build, flow and WAF logs are kept."
  type        = number
  default     = 30
}

variable "alarm_emails" {
  description = "Addresses that receive CloudWatch alarms."
  type        = list(string)
  default     = []
}

variable "trend_alert_emails" {
  description = "Addresses subscribed to the stock trend alerts topic, as the original pipeline mailed them."
  type        = list(string)
  default     = []
}

variable "ses_identity" {
  description = "SES identity (domain or address) the meetings mail is sent from; empty: no mail."
  type        = string
  default     = ""
}

variable "mail_sender" {
  description = "From address of the meetings mail; empty: derived from ses_identity."
  type        = string
  default     = ""
}

variable "meetings_admin_email" {
  description = "Who the meetings service tells about new requests (MEETINGS_ADMIN_EMAIL); empty: the service's default."
  type        = string
  default     = ""
}

variable "require_approval" {
  description = "Manual approval before each deploy."
  type        = bool
  default     = false
}

variable "protect_resources" {
  description = "Deletion protection on the ALB, tables and user pool, and no force-destroy of buckets and repositories. Keep false in dev to let `terraform destroy` finish."
  type        = bool
  default     = false
}

variable "tracing" {
  description = "Trace requests and events to X-Ray through an ADOT collector sidecar in every task (X-Ray bills per trace recorded and scanned)."
  type        = bool
  default     = true
}

variable "lake_bytes_scanned_cutoff" {
  description = "Largest scan one Athena query of a service's lake may make, in bytes (Athena bills $5 per TB scanned); a query over it is cancelled."
  type        = number
  default     = 10737418240
}

variable "schedules_enabled" {
  description = "The services' scheduled tasks (services.yaml schedules:, e.g. the insights compaction) run; false pauses them."
  type        = bool
  default     = true
}
