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
  description = "Private app subnets, one per AZ (the ALB is internal)."
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
  description = "ACM certificate (same region) for HTTPS between CloudFront and the ALB. Empty: HTTP, inside AWS's network from CloudFront's VPC origin."
  type        = string
  default     = ""
}

variable "origin_domain" {
  description = "The name certificate_arn covers, which CloudFront connects to (required with a certificate)."
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
