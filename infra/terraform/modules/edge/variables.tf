variable "name" {
  description = "Stack name, e.g. regatta-dev."
  type        = string
}

variable "region" {
  description = "Region of Cognito and the buckets (for the app's config.json and its CSP)."
  type        = string
}

variable "origin_bucket_domain" {
  description = "Regional domain name of the media output bucket."
  type        = string
}

variable "web_bucket_name" {
  description = "Name of the bucket holding the built web app (web/dist)."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving the web bucket's server access logs (prefix s3/<bucket>/)."
  type        = string
}

variable "alb_arn" {
  description = "The internal ALB, CloudFront's VPC origin for every API prefix."
  type        = string
}

variable "alb_domain_name" {
  description = "Domain CloudFront names the ALB by (the Host of its requests and, with HTTPS, the name its certificate must cover): its DNS name, or a name its certificate covers."
  type        = string
}

variable "alb_https" {
  description = "Reach the ALB over HTTPS (needs alb_domain_name to match the ALB's certificate); otherwise HTTP, inside AWS's network."
  type        = bool
  default     = false
}

variable "waf_enabled" {
  description = "Attach a web ACL (AWS managed common and known-bad-inputs rules, a per-client-IP rate limit) to the distribution."
  type        = bool
  default     = true
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes one client address may make before WAF blocks it."
  type        = number
  default     = 2000
}

variable "log_retention_days" {
  description = "Days WAF logs are kept."
  type        = number
  default     = 30
}

variable "domain_name" {
  description = "Custom domain of the distribution (e.g. regatta.example.com); empty: the *.cloudfront.net name only."
  type        = string
  default     = ""
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of domain_name: DNS validation of its certificate and the alias records (required with domain_name)."
  type        = string
  default     = ""
}

variable "api_path_prefixes" {
  description = "Path prefixes the APIs serve (/recipes, ...); each becomes a `<prefix>*` behaviour to the ALB."
  type        = list(string)
}

variable "cognito_client_id" {
  description = "The public app client the web app signs in with."
  type        = string
}

variable "price_class" {
  description = "CloudFront price class (PriceClass_100: North America and Europe edges)."
  type        = string
  default     = "PriceClass_100"
}

variable "force_destroy" {
  description = "Let terraform destroy empty the web bucket (dev stacks)."
  type        = bool
  default     = false
}
