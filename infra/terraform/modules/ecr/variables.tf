variable "name" {
  description = "Stack name, e.g. regatta-dev: repositories are <name>/<service>."
  type        = string
}

variable "services" {
  description = "Service names (module.catalog.services keys): one repository each."
  type        = set(string)
}

variable "kms_key_arn" {
  description = "Key encrypting the images."
  type        = string
}

variable "keep_tagged_images" {
  description = "Tagged images kept per repository (the newest); older ones expire. Two tags per build."
  type        = number
  default     = 20
}

variable "force_delete" {
  description = "Let terraform destroy delete repositories that still hold images (dev)."
  type        = bool
  default     = false
}
