# One customer-managed key for the platform's data at rest: SNS topics, DynamoDB tables, S3
# buckets (but the log bucket), CloudWatch log groups, ECR images and pipeline artifacts.
# The key policy is the AWS default (the account administers the key through IAM) plus the
# AWS services that use the key on their own behalf. Services' task roles get kms:Decrypt /
# GenerateDataKey on this key only through their IAM policies (modules/iam).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account = data.aws_caller_identity.current.account_id
  region  = data.aws_region.current.name
  arn     = data.aws_partition.current.partition
}

resource "aws_kms_key" "platform" {
  description             = "${var.name}: data at rest of the Regatta platform"
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_days

  # A key policy, not an IAM policy: its "*" resource means this key and nothing else.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.arn}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.arn}:logs:${local.region}:${local.account}:log-group:*" }
        }
      },
      {
        Sid       = "CloudWatchAlarmsPublishToEncryptedTopics"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
      },
      {
        Sid       = "CloudFrontReadsMediaOutput"
        Effect    = "Allow"
        Principal = { Service = "cloudfront.amazonaws.com" }
        Action    = ["kms:Decrypt"]
        Resource  = "*"
        Condition = {
          ArnLike = { "aws:SourceArn" = "arn:${local.arn}:cloudfront::${local.account}:distribution/*" }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.platform.key_id
}
