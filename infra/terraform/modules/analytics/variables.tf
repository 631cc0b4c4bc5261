variable "name" {
  description = "Stack name, e.g. regatta-dev."
  type        = string
}

variable "archive_bucket" {
  description = "Physical name of the stock archive bucket (raw/year=/month=/day=/hour=/*.json.gz)."
  type        = string
}

variable "results_bucket" {
  description = "Name of the Athena results bucket (globally unique)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key encrypting query results."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving the results bucket's server access logs."
  type        = string
}

variable "results_retention_days" {
  description = "Days query results are kept."
  type        = number
  default     = 30
}

variable "bytes_scanned_cutoff" {
  description = "Largest scan one query may make, in bytes (Athena bills $5 per TB scanned)."
  type        = number
  default     = 10737418240
}

variable "first_year" {
  description = "First year the partition projection covers."
  type        = number
  default     = 2024
}

variable "force_destroy" {
  description = "Let terraform destroy delete the results bucket with its objects (dev)."
  type        = bool
  default     = false
}
