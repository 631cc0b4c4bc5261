variable "name" {
  description = "Stack name, e.g. regatta-dev: the cluster and the task families' prefix."
  type        = string
}

variable "services" {
  description = "module.catalog.services."
  type        = any
}

variable "processes" {
  description = "module.catalog.processes: one task definition and ECS service each."
  type        = any
}

variable "task_sizes" {
  description = "Fargate CPU units and memory (MiB) by process (\"recipes-api\", \"media-jobs-worker\"), overriding infra/services.yaml for this environment."
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {}
}

variable "repository_urls" {
  description = "ECR repository URL by service."
  type        = map(string)
}

variable "image_tag" {
  description = "Tag the task definitions start with. The pipeline deploys commit tags from then on; Terraform does not roll them back (see lifecycle below)."
  type        = string
}

variable "task_role_arns" {
  description = "Task role ARN by process (\"<service>-api\", \"<service>-worker\")."
  type        = map(string)
}

variable "execution_role_arns" {
  description = "Execution role ARN by service."
  type        = map(string)
}

variable "subnet_ids" {
  description = "Private app subnets the tasks run in."
  type        = list(string)
}

variable "api_security_group_id" {
  description = "Security group of the API tasks."
  type        = string
}

variable "worker_security_group_id" {
  description = "Security group of the worker tasks."
  type        = string
}

variable "target_group_arns" {
  description = "Target group ARN by API service."
  type        = map(string)
}

variable "queue_names" {
  description = "Physical queue name by logical name, for the workers' backlog metric."
  type        = map(string)
}

variable "forwarded_allow_ips" {
  description = "FORWARDED_ALLOW_IPS of the API containers: the addresses (CIDRs) of the proxies in front of them, whose X-Forwarded-For/-Proto uvicorn believes."
  type        = string

  validation {
    condition     = var.forwarded_allow_ips != "" && !strcontains(var.forwarded_allow_ips, "*")
    error_message = "forwarded_allow_ips must name the proxies' addresses; \"*\" would let any client forge its address."
  }
}

variable "environment" {
  description = "Variables every container gets (region, name prefix, Cognito ids, log settings)."
  type        = map(string)
}

variable "platform_values" {
  description = "Values services.yaml's platform_env may name (cdn_base_url, mail_sender, ...); empty ones are not passed."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "Key encrypting the log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Days container logs are kept."
  type        = number
  default     = 30
}

variable "container_insights" {
  description = "Container Insights level: enabled, or enhanced (per-task metrics, higher cost)."
  type        = string
  default     = "enabled"

  validation {
    condition     = contains(["enabled", "enhanced"], var.container_insights)
    error_message = "container_insights must be enabled or enhanced (the workers' scaling reads RunningTaskCount from it)."
  }
}

variable "workers_on_spot" {
  description = "Run workers on Fargate Spot (about 70% cheaper; a task may get a 2-minute SIGTERM, which the workers drain)."
  type        = bool
  default     = false
}

variable "api_min_count" {
  description = "Fewest tasks per API service."
  type        = number
  default     = 1
}

variable "api_max_count" {
  description = "Most tasks per API service."
  type        = number
  default     = 4
}

variable "api_cpu_target" {
  description = "Average CPU % the API services' target tracking keeps."
  type        = number
  default     = 60
}

variable "worker_min_count" {
  description = "Fewest tasks per worker service (at least 1: the backlog metric divides by the running tasks)."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_min_count >= 1
    error_message = "worker_min_count must be at least 1."
  }
}

variable "worker_max_count" {
  description = "Most tasks per worker service."
  type        = number
  default     = 4
}

variable "tracing" {
  description = "Run an ADOT collector sidecar in every task and send the services' traces through it to X-Ray."
  type        = bool
  default     = true
}

variable "collector_image" {
  description = "The ADOT collector image of the sidecar (a pinned release, from ECR Public like the base image: Docker Hub limits anonymous pulls from shared addresses; mirror it into ECR where tasks have no route out)."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.47.0"
}

variable "collector_memory" {
  description = "MiB reserved for the collector sidecar out of the task's memory; its memory_limiter keeps under it."
  type        = number
  default     = 64
}
