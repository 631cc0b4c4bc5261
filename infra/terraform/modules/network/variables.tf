variable "name" {
  description = "Stack name, e.g. regatta-dev: prefixes every resource's Name tag."
  type        = string
}

variable "cidr" {
  description = "VPC CIDR block; subnets are /24s carved from it (public .1-, app .11-, data .21-)."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && tonumber(split("/", var.cidr)[1]) <= 16
    error_message = "cidr must be a valid IPv4 CIDR block of /16 or larger."
  }
}

variable "az_count" {
  description = "Availability zones to span (2 as the 3-tier reference; at most 3)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "availability_zones" {
  description = "Zone names to use (e.g. [\"us-east-1a\", \"us-east-1b\"]); empty: the first az_count available zones."
  type        = list(string)
  default     = []
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper, dev) instead of one per AZ (production)."
  type        = bool
  default     = false
}

variable "enable_interface_endpoints" {
  description = "Interface endpoints for ECR, CloudWatch Logs, SQS and SNS (about $7.30 per endpoint per AZ per month; traffic then skips the NAT)."
  type        = bool
  default     = true
}

variable "flow_log_retention_days" {
  description = "Days VPC flow logs are kept."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "Key encrypting the flow log group."
  type        = string
}
