variable "name" {
  description = "Stack name, e.g. regatta-dev: role names are <name>-<process>-task and <name>-<service>-exec."
  type        = string
}

variable "services" {
  description = "module.catalog.services."
  type        = any
}

variable "processes" {
  description = "module.catalog.process_access: one task role per process (\"<service>-api\", \"<service>-worker\") and per scheduled task (\"<service>-<task>\", kind schedule), with its sends_mail."
  type        = any
}

variable "task_statements" {
  description = "module.catalog.task_statements: each task role's statements on topology resources."
  type        = any
}

variable "kms_key_arn" {
  description = "The platform key (tables, buckets, topics, images, logs)."
  type        = string
}

variable "ses_identity_arn" {
  description = "SES identity the processes with sends_mail may send as (empty: none)."
  type        = string
  default     = ""
}

variable "repository_arns" {
  description = "ECR repository ARN by service: the only images its tasks may pull."
  type        = map(string)
}

variable "log_group_arns" {
  description = "Log group ARN by service: the only group its tasks may write."
  type        = map(string)
}

variable "tracing" {
  description = "The tasks run an ADOT collector (module.ecs var.tracing): their roles may send traces to X-Ray."
  type        = bool
  default     = true
}
