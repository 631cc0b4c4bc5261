# Every table and bucket of infra/topology.yaml (through module.catalog). Tables: on demand,
# point-in-time recovery, encrypted with the platform key, TTL and GSIs as declared. Buckets:
# encrypted, private, TLS only, versioned where declared, with the declared notifications,
# lifecycle rules (the media sources' Glacier / Deep Archive tag rules; a lake's raw zone to
# Infrequent Access and Glacier, its Athena results expiring) and CORS.

resource "aws_dynamodb_table" "this" {
  for_each                    = var.tables
  name                        = each.value.physical
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = each.value.hash_key
  range_key                   = each.value.range_key
  deletion_protection_enabled = var.deletion_protection

  dynamic "attribute" {
    for_each = each.value.attributes
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = each.value.indexes
    content {
      name            = global_secondary_index.key
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = "ALL"
    }
  }

  dynamic "ttl" {
    for_each = each.value.ttl == null ? [] : [each.value.ttl]
    content {
      attribute_name = ttl.value
      enabled        = true
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = { Owner = each.value.owner }
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Single-region blueprint: the sources can be re-uploaded and every other object is derived from them or from DynamoDB (which has PITR)
  #checkov:skip=CKV2_AWS_62:Notifications are what infra/topology.yaml declares (media-source -> media-jobs-uploads); a bucket nobody reacts to gets none
  #checkov:skip=CKV_AWS_21:Versioning is what infra/topology.yaml declares per bucket (aws_s3_bucket_versioning below); derived objects are rewritten idempotently
  for_each      = var.buckets
  bucket        = each.value.physical
  force_destroy = var.force_destroy
  tags          = { Owner = each.value.owner }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = var.buckets
  bucket   = aws_s3_bucket.this[each.key].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = var.buckets
  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = var.buckets
  bucket   = aws_s3_bucket.this[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # One data key per bucket instead of one KMS call per object (CloudFront reads included).
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = { for k, b in var.buckets : k => b if b.versioning }
  bucket   = aws_s3_bucket.this[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each      = var.buckets
  bucket        = aws_s3_bucket.this[each.key].id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${each.value.physical}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = var.buckets
  bucket   = aws_s3_bucket.this[each.key].id

  # The topology's rules: a tag, a key prefix or both select objects, which move to other
  # storage classes (and may expire).
  dynamic "rule" {
    for_each = each.value.lifecycle
    content {
      id     = rule.value.id
      status = "Enabled"
      filter {
        prefix = rule.value.tag == null ? rule.value.prefix : null
        dynamic "tag" {
          for_each = rule.value.tag != null && rule.value.prefix == null ? [rule.value.tag] : []
          content {
            key   = tag.value.key
            value = tag.value.value
          }
        }
        dynamic "and" {
          for_each = rule.value.tag != null && rule.value.prefix != null ? [rule.value] : []
          content {
            prefix = and.value.prefix
            tags   = { (and.value.tag.key) = and.value.tag.value }
          }
        }
      }
      dynamic "transition" {
        for_each = rule.value.transitions
        content {
          days          = transition.value.days
          storage_class = transition.value.storage_class
        }
      }
      dynamic "expiration" {
        for_each = rule.value.expiration == null ? [] : [rule.value.expiration]
        content {
          days = expiration.value
        }
      }
    }
  }

  rule {
    id     = "housekeeping"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
    dynamic "noncurrent_version_expiration" {
      for_each = each.value.versioning ? [1] : []
      content {
        noncurrent_days = var.noncurrent_version_days
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_cors_configuration" "this" {
  for_each = { for k, b in var.buckets : k => b if b.cors != null }
  bucket   = aws_s3_bucket.this[each.key].id
  cors_rule {
    allowed_origins = each.value.cors.allowed_origins
    allowed_methods = each.value.cors.allowed_methods
    allowed_headers = ["*"]
    expose_headers  = each.value.cors.expose_headers
    max_age_seconds = 3600
  }
}

resource "aws_s3_bucket_notification" "this" {
  for_each = { for k, b in var.buckets : k => b if length(b.notifications) > 0 }
  bucket   = aws_s3_bucket.this[each.key].id

  dynamic "queue" {
    for_each = each.value.notifications
    content {
      id            = "${queue.value.queue}-${queue.key}"
      queue_arn     = var.queue_arns[queue.value.queue]
      events        = queue.value.events
      filter_prefix = queue.value.prefix
    }
  }
}

data "aws_iam_policy_document" "bucket" {
  for_each = var.buckets

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this[each.key].arn,
      "${aws_s3_bucket.this[each.key].arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = contains(keys(var.cloudfront_readers), each.key) ? [var.cloudfront_readers[each.key]] : []
    content {
      sid       = "CloudFrontReads"
      actions   = ["s3:GetObject"]
      resources = ["${aws_s3_bucket.this[each.key].arn}/*"]
      principals {
        type        = "Service"
        identifiers = ["cloudfront.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "AWS:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each   = var.buckets
  bucket     = aws_s3_bucket.this[each.key].id
  policy     = data.aws_iam_policy_document.bucket[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}
