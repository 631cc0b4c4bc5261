variable "name" {
  description = "Stack name, e.g. regatta-dev (at most 19 characters: target group names add -<service>)."
  type        = string

  validation {
    condition     = length(var.name) <= 19
    error_message = "name: at most 19 characters (load balancer and target group names stop at 32)."
  }
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets, one per AZ."
  type        = list(string)
}

variable "security_group_id" {
  description = "The ALB's security group."
  type        = string
}

variable "api_services" {
  description = "module.catalog.api_services: each gets a target group and a `<prefix>*` rule."
  type        = any
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS (same region). Empty: HTTP only, for a first deploy."
  type        = string
  default     = ""
}

variable "access_log_bucket" {
  description = "Bucket receiving the access logs (prefix alb/)."
  type        = string
}

variable "deletion_protection" {
  description = "Protect the load balancer from deletion (turn off to tear a dev stack down)."
  type        = bool
  default     = true
}

variable "deregistration_delay" {
  description = "Seconds a stopping task keeps serving its in-flight requests."
  type        = number
  default     = 30
}

variable "waf_enabled" {
  description = "Put a WAF web ACL (AWS managed common and known-bad-inputs rules, a per-IP rate limit) in front of the ALB."
  type        = bool
  default     = true
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes one IP address may make before WAF blocks it."
  type        = number
  default     = 2000
}

variable "kms_key_arn" {
  description = "Key encrypting the WAF log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days WAF logs are kept."
  type        = number
  default     = 30
}
