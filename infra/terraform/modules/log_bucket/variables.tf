variable "bucket_name" {
  description = "Name of the log bucket (globally unique)."
  type        = string
}

variable "retention_days" {
  description = "Days access logs are kept."
  type        = number
  default     = 90
}

variable "force_destroy" {
  description = "Let terraform destroy delete the bucket with its logs (dev)."
  type        = bool
  default     = false
}
