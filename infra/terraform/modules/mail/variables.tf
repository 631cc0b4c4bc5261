variable "identity" {
  description = "Domain (example.com) or address (meetings@example.com) the meetings mail is sent from; empty: no SES identity."
  type        = string
  default     = ""
}

variable "sender" {
  description = "From address of the meetings mail; empty: the identity when it is an address, else no-reply@<domain>."
  type        = string
  default     = ""
}
