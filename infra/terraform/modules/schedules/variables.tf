variable "name" {
  description = "Stack name, e.g. regatta-dev: schedules are <name>-<service>-<task>, their roles <name>-<service>-<task>-scheduler."
  type        = string
}

variable "schedules" {
  description = "module.catalog.schedules: service, task, command, schedule_expression and the process whose task definition runs."
  type        = any
}

variable "task_role_arns" {
  description = "Task role ARN by process and scheduled task (module.iam): each schedule runs its task under its own."
  type        = map(string)
}

variable "cluster_arn" {
  description = "The ECS cluster the tasks run in."
  type        = string
}

variable "task_definition_families" {
  description = "Task definition family by process (module.ecs)."
  type        = map(string)
}

variable "execution_role_arns" {
  description = "Execution role ARN by service (module.iam): the task definition's, passed to ECS."
  type        = map(string)
}

variable "subnet_ids" {
  description = "Private app subnets the tasks run in."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the tasks (the workers': egress only)."
  type        = string
}

variable "kms_key_arn" {
  description = "The platform key: the schedules are encrypted with it."
  type        = string
}

variable "on_spot" {
  description = "Run the tasks on Fargate Spot (a run lost to a reclaim is made up by the next one)."
  type        = bool
  default     = true
}

variable "enabled" {
  description = "Schedules run; false pauses them all (DISABLED) without deleting anything."
  type        = bool
  default     = true
}
