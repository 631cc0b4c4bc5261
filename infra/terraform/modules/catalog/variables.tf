variable "topology_file" {
  description = "Path of infra/topology.yaml: topics, queues, tables, buckets."
  type        = string
}

variable "services_file" {
  description = "Path of infra/services.yaml: the services, their processes and their access."
  type        = string
}

variable "name_prefix" {
  description = "Prepended to every logical topology name (the services' REGATTA_NAME_PREFIX)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*-$", var.name_prefix))
    error_message = "name_prefix: lower-case letters, digits and hyphens, ending in a hyphen."
  }
}

variable "region" {
  description = "AWS region the ARNs are in."
  type        = string
}

variable "account_id" {
  description = "AWS account the ARNs are in."
  type        = string
}

variable "partition" {
  description = "AWS partition of the ARNs."
  type        = string
  default     = "aws"
}
