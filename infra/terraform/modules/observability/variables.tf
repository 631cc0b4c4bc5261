variable "name" {
  description = "Stack name, e.g. regatta-dev."
  type        = string
}

variable "queues" {
  description = "module.catalog.queues: every queue and its DLQ get alarms."
  type        = any
}

variable "alb_arn_suffix" {
  description = "The ALB's CloudWatch dimension value."
  type        = string
}

variable "target_group_arn_suffixes" {
  description = "Target groups' CloudWatch dimension values by API service."
  type        = map(string)
}

variable "cluster_name" {
  description = "The ECS cluster."
  type        = string
}

variable "ecs_services" {
  description = "ECS service names (\"<service>-api\", \"<service>-worker\") that must keep running."
  type        = set(string)
}

variable "kms_key_arn" {
  description = "Key encrypting the alarm topic."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses the alarm topic mails (each must confirm its subscription)."
  type        = list(string)
  default     = []
}

variable "oldest_message_age_seconds" {
  description = "Alarm when a queue's oldest message is older than this (and at least 5 visibility timeouts)."
  type        = number
  default     = 300
}

variable "alb_5xx_threshold" {
  description = "ALB 5xx responses (its own plus the targets') per 5 minutes that raise the alarm."
  type        = number
  default     = 10
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the services' own metrics (shared.metrics.NAMESPACE)."
  type        = string
  default     = "Regatta"
}

variable "worker_failures_threshold" {
  description = "Records a worker may fail per queue in 5 minutes before the alarm (each failure is retried)."
  type        = number
  default     = 10
}

variable "api_5xx_threshold" {
  description = "5xx answers per API service in 5 minutes that raise the alarm."
  type        = number
  default     = 5
}
