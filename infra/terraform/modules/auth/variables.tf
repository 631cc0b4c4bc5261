variable "name" {
  description = "Stack name, e.g. regatta-dev: the user pool's name."
  type        = string
}

variable "self_signup" {
  description = "Let anyone create an account (false: administrators create users, as the recipes original)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the user pool from deletion (turn off to tear a dev stack down)."
  type        = bool
  default     = true
}

variable "mfa" {
  description = "OFF, OPTIONAL (TOTP, the user's choice) or ON (TOTP required)."
  type        = string
  default     = "OPTIONAL"

  validation {
    condition     = contains(["OFF", "OPTIONAL", "ON"], var.mfa)
    error_message = "mfa must be OFF, OPTIONAL or ON."
  }
}

variable "domain_prefix" {
  description = "Prefix of the user pool domain (<prefix>.auth.<region>.amazoncognito.com) that serves the token endpoint; empty: <name>-<account id>."
  type        = string
  default     = ""
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the machine client's secret in Secrets Manager."
  type        = string
}
