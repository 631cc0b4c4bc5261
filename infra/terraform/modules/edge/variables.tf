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

variable "alb_domain_name" {
  description = "Domain CloudFront reaches the ALB at: its DNS name, or with HTTPS a name its certificate covers."
  type        = string
}

variable "alb_https" {
  description = "Reach the ALB over HTTPS (needs alb_domain_name to match the ALB's certificate)."
  type        = bool
  default     = false
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
