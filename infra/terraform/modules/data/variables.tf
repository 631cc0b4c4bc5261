variable "tables" {
  description = "module.catalog.tables."
  type        = any
}

variable "buckets" {
  description = "module.catalog.buckets."
  type        = any
}

variable "queue_arns" {
  description = "Queue ARNs by logical name (module.messaging), for bucket notifications."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "Key encrypting tables and buckets."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving the S3 server access logs (prefix s3/<bucket>/)."
  type        = string
}

variable "cloudfront_readers" {
  description = "Distribution ARN allowed to read each bucket, by logical bucket name (module.edge)."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Protect tables from deletion (turn off to tear a dev stack down)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let terraform destroy delete buckets that still hold objects (dev)."
  type        = bool
  default     = false
}

variable "noncurrent_version_days" {
  description = "Days a versioned bucket keeps overwritten or deleted object versions."
  type        = number
  default     = 30
}
