variable "name" {
  description = "Stack name, e.g. regatta-dev."
  type        = string
}

variable "vpc_id" {
  description = "The VPC the groups belong to."
  type        = string
}

variable "app_ports" {
  description = "Container ports of the API services: the only ports the ALB may reach."
  type        = set(number)
}
