variable "name" {
  description = "Stack and service, e.g. regatta-dev-insights: the workgroup's name and, with _ for -, the Glue database's."
  type        = string
}

variable "bucket" {
  description = "Physical name of the lake bucket (raw/, curated/, reference/ and results/ zones)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key encrypting the query results (the lake bucket's own key)."
  type        = string
}

variable "bytes_scanned_cutoff" {
  description = "Largest scan one query may make, in bytes (Athena bills $5 per TB scanned); a query over it is cancelled."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.bytes_scanned_cutoff >= 10485760
    error_message = "bytes_scanned_cutoff: Athena's minimum is 10 MB (10485760 bytes)."
  }
}

variable "first_day" {
  description = "First day (YYYY-MM-DD) the dt partition projection covers; the last is today (NOW)."
  type        = string
  default     = "2024-01-01"

  validation {
    condition     = can(regex("^\\d{4}-\\d{2}-\\d{2}$", var.first_day))
    error_message = "first_day: a date as YYYY-MM-DD."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete the workgroup with its saved queries and history (dev)."
  type        = bool
  default     = false
}
