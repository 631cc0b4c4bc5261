variable "name" {
  description = "Stack name, e.g. regatta-dev."
  type        = string
}

variable "repository" {
  description = "GitHub repository to build, owner/name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.repository))
    error_message = "repository must look like owner/name."
  }
}

variable "branch" {
  description = "Branch whose pushes deploy."
  type        = string
  default     = "main"
}

variable "connection_arn" {
  description = "An existing CodeStar Connections (GitHub) ARN; empty: create one (then finish the handshake in the console)."
  type        = string
  default     = ""
}

variable "kms_key_arn" {
  description = "Key encrypting artifacts, build logs and images."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving the artifact bucket's server access logs."
  type        = string
}

variable "registry" {
  description = "ECR registry host, <account>.dkr.ecr.<region>.amazonaws.com."
  type        = string
}

variable "repository_prefix" {
  description = "ECR repository prefix: images are <registry>/<prefix>/<service>."
  type        = string
}

variable "repository_arns" {
  description = "ECR repository ARN by service: the only repositories the build may push to."
  type        = map(string)
}

variable "web_bucket" {
  description = "Bucket the web publish action syncs web/dist to (WEB_BUCKET of buildspec-web.yml)."
  type        = string
}

variable "web_bucket_arn" {
  description = "ARN of the web bucket: the only bucket the web publish role may list and write objects to."
  type        = string
}

variable "web_distribution_id" {
  description = "CloudFront distribution serving the web app (WEB_DISTRIBUTION_ID of buildspec-web.yml)."
  type        = string
}

variable "web_distribution_arn" {
  description = "ARN of that distribution: the only one the web publish role may invalidate."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster the deploy actions update."
  type        = string
}

variable "deployments" {
  description = "ECS service name => the service whose imagedefinitions file deploys it."
  type        = map(string)
}

variable "service_arns" {
  description = "ECS service ARNs the pipeline may update."
  type        = list(string)
}

variable "pass_role_arns" {
  description = "Task and execution role ARNs the deploy may pass to ECS."
  type        = list(string)
}

variable "require_approval" {
  description = "Stop before deploying (the ECS services and the web app) until someone approves in the console."
  type        = bool
  default     = false
}

variable "build_compute_type" {
  description = "CodeBuild compute type (MEDIUM: 4 vCPU, 7 GB; the five images build in one job)."
  type        = string
  default     = "BUILD_GENERAL1_MEDIUM"
}

variable "build_image" {
  description = "CodeBuild image of both projects (standard:7.0 carries Python 3.12, Node.js 20, Docker and the AWS CLI)."
  type        = string
  default     = "aws/codebuild/standard:7.0"
}

variable "log_retention_days" {
  description = "Days build logs are kept."
  type        = number
  default     = 30
}

variable "artifact_retention_days" {
  description = "Days pipeline artifacts are kept."
  type        = number
  default     = 30
}

variable "force_destroy" {
  description = "Let terraform destroy delete the artifact bucket with its objects (dev)."
  type        = bool
  default     = false
}
