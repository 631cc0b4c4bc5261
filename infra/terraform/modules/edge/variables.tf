variable "name" {
  description = "Stack name, e.g. regatta-dev."
  type        = string
}

variable "origin_bucket_domain" {
  description = "Regional domain name of the media output bucket."
  type        = string
}

variable "price_class" {
  description = "CloudFront price class (PriceClass_100: North America and Europe edges)."
  type        = string
  default     = "PriceClass_100"
}
