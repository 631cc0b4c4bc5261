variable "name" {
  description = "Stack name, e.g. regatta-dev: the key's alias."
  type        = string
}

variable "deletion_window_days" {
  description = "Days a scheduled key deletion waits (7..30)."
  type        = number
  default     = 30
}
