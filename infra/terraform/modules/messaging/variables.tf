variable "topics" {
  description = "module.catalog.topics."
  type        = any
}

variable "queues" {
  description = "module.catalog.queues."
  type        = any
}

variable "subscriptions" {
  description = "module.catalog.subscriptions."
  type        = any
}

variable "kms_key_arn" {
  description = "Key encrypting the topics."
  type        = string
}

variable "alert_emails" {
  description = "Addresses subscribed to every topic the topology marks email_subscription (each must confirm)."
  type        = list(string)
  default     = []
}

variable "message_retention_seconds" {
  description = "How long a queue keeps an unconsumed message (DLQs keep 14 days)."
  type        = number
  default     = 345600
}
