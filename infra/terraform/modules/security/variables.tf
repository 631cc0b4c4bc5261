variable "name" {
  description = "Stack name, e.g. regatta-dev."
  type        = string
}

variable "vpc_id" {
  description = "The VPC the groups belong to."
  type        = string
}

variable "origin_port" {
  description = "The ALB listener port CloudFront's VPC origin connects to: 80, or 443 with a certificate."
  type        = number

  validation {
    condition     = contains([80, 443], var.origin_port)
    error_message = "origin_port must be 80 or 443."
  }
}

variable "app_ports" {
  description = "Container ports of the API services: the only ports the ALB may reach."
  type        = set(number)
}
