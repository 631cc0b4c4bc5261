# One CloudFront distribution is the platform's single public origin, as the local gateway
# (devkit/gateway.py) is on a laptop:
#
#   /                    the web app, from its private S3 bucket (Origin Access Control)
#   /media/outputs/*     HLS/DASH renditions and thumbnails, from the private media output
#                        bucket (OAC); a function strips the prefix to the object key
#   <prefix>*            each API prefix (/recipes*, /meetings*, ...) to the ALB, uncached,
#                        with every viewer header (Authorization included) but Host
#
# Viewers are redirected to HTTPS on every path. The ALB is internal: CloudFront reaches it
# through a VPC origin, so requests (and their bearer tokens) travel from the edge to the ALB
# inside AWS's network, never over the internet, and over HTTPS too when the ALB has a
# certificate. A web ACL (waf.tf) with a per-client rate limit guards the distribution, and
# an optional custom domain (domain.tf) replaces the *.cloudfront.net name.
#
# The browser therefore never crosses an origin for the app, the APIs or playback; it calls
# Cognito's public endpoint (config.json) and PUTs uploads to S3's presigned URLs directly.

locals {
  # AWS managed policies (stable, documented ids).
  caching_optimized  = "658327ea-f89d-4fab-a63d-7e88639e58f6"
  caching_disabled   = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  cors_s3_origin     = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"
  all_viewer_no_host = "b689b0a8-53d0-40ab-baf2-68738e2966ac"

  outputs_path = "/media/outputs"
  cognito_url  = "https://cognito-idp.${var.region}.amazonaws.com"
  # Presigned uploads go to S3 itself (path-style and virtual-hosted URLs).
  upload_origins = "https://s3.amazonaws.com https://*.s3.amazonaws.com https://s3.${var.region}.amazonaws.com https://*.s3.${var.region}.amazonaws.com"
  # The same policy the local gateway sends (devkit/gateway.py content_security_policy).
  content_security_policy = join("; ", [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self' ${local.cognito_url} ${local.upload_origins}",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
  ])
}

# --- the web app's bucket -------------------------------------------------------------------

resource "aws_s3_bucket" "web" {
  #checkov:skip=CKV_AWS_145:The app's files are public by nature; SSE-S3 lets CloudFront's OAC read them without a KMS key grant for the edge
  #checkov:skip=CKV_AWS_144:The bucket holds a build artefact that the pipeline can upload again at any time; a replica adds cost, not safety
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new app files; CloudFront reads them on request
  bucket        = var.web_bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "web" {
  bucket = aws_s3_bucket.web.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "web" {
  bucket                  = aws_s3_bucket.web.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "web" {
  bucket = aws_s3_bucket.web.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "web" {
  bucket = aws_s3_bucket.web.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "web" {
  bucket = aws_s3_bucket.web.id
  rule {
    id     = "previous-builds"
    status = "Enabled"
    filter {}
    # A deploy replaces index.html and adds new hashed assets; old versions are kept a while
    # for a rollback, then dropped.
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_logging" "web" {
  bucket        = aws_s3_bucket.web.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${var.web_bucket_name}/"
}

data "aws_iam_policy_document" "web" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.web.arn,
      "${aws_s3_bucket.web.arn}/*",
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

  statement {
    sid       = "CloudFrontReads"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.web.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.this.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "web" {
  bucket     = aws_s3_bucket.web.id
  policy     = data.aws_iam_policy_document.web.json
  depends_on = [aws_s3_bucket_public_access_block.web]
}

# Where the app finds Cognito (the local gateway serves the same document at /config.json).
resource "aws_s3_object" "config" {
  bucket        = aws_s3_bucket.web.id
  key           = "config.json"
  content_type  = "application/json"
  cache_control = "no-cache"
  content = jsonencode({
    cognito     = { endpoint = "${local.cognito_url}/", clientId = var.cognito_client_id, region = var.region }
    environment = "aws"
  })
}

# --- response headers -----------------------------------------------------------------------

# Players on any origin may fetch renditions (GET/HEAD, as the bucket's CORS rule allows);
# the usual security headers ride along.
resource "aws_cloudfront_response_headers_policy" "media" {
  name    = "${var.name}-media"
  comment = "CORS for HLS/DASH players and security headers"

  cors_config {
    access_control_allow_credentials = false
    origin_override                  = true
    access_control_max_age_sec       = 3600
    access_control_allow_headers {
      items = ["*"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD", "OPTIONS"]
    }
    access_control_allow_origins {
      items = ["*"]
    }
  }

  security_headers_config {
    content_type_options {
      override = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
  }
}

# The web app: its own origin only, plus Cognito and S3 uploads.
resource "aws_cloudfront_response_headers_policy" "web" {
  name    = "${var.name}-web"
  comment = "Content Security Policy and security headers of the web app"

  security_headers_config {
    content_security_policy {
      content_security_policy = local.content_security_policy
      override                = true
    }
    content_type_options {
      override = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
  }
}

# --- origins and the distribution ---------------------------------------------------------

resource "aws_cloudfront_origin_access_control" "media" {
  name                              = "${var.name}-media-output"
  description                       = "CloudFront reads the private media output bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_origin_access_control" "web" {
  name                              = "${var.name}-web"
  description                       = "CloudFront reads the private web app bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# The internal ALB as a VPC origin: CloudFront puts its own network interfaces into the VPC's
# private subnets and connects from there (the VPC needs an internet gateway, which modules/
# network has). Creating one takes several minutes.
resource "aws_cloudfront_vpc_origin" "alb" {
  vpc_origin_endpoint_config {
    name                   = "${var.name}-alb"
    arn                    = var.alb_arn
    http_port              = 80
    https_port             = 443
    origin_protocol_policy = var.alb_https ? "https-only" : "http-only"

    origin_ssl_protocols {
      items    = ["TLSv1.2"]
      quantity = 1
    }
  }

  timeouts {
    create = "30m"
    update = "30m"
    delete = "30m"
  }
}

# /media/outputs/<guid>/hls/master.m3u8 -> <guid>/hls/master.m3u8 in the output bucket.
resource "aws_cloudfront_function" "outputs_key" {
  name    = "${var.name}-outputs-key"
  runtime = "cloudfront-js-2.0"
  comment = "Strip /media/outputs from the URI: the rest is the output bucket's key"
  publish = true
  code    = <<-EOT
    function handler(event) {
      var request = event.request;
      request.uri = request.uri.substring(${length(local.outputs_path)});
      return request;
    }
  EOT
}

resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV_AWS_68:The web ACL (waf.tf) is attached through web_acl_id whenever waf_enabled is true (the default); checkov cannot resolve the counted reference
  #checkov:skip=CKV2_AWS_47:Same as CKV_AWS_68: the attached web ACL runs AWSManagedRulesKnownBadInputsRuleSet, which carries the Log4j rules
  #checkov:skip=CKV_AWS_86:Standard logging needs ACL-enabled buckets (the log bucket enforces owner-only); CloudFront metrics and the ALB's access logs cover requests
  #checkov:skip=CKV_AWS_310:The API origin is the one regional ALB and the buckets are regional; a failover origin group would need a second region of the whole platform
  #checkov:skip=CKV_AWS_174:With domain_name the viewer certificate is ACM's with TLSv1.2_2021; without one the *.cloudfront.net certificate, whose minimum protocol CloudFront fixes itself
  #checkov:skip=CKV2_AWS_42:Same reason as CKV_AWS_174: the default certificate until a custom domain is configured (domain_name, domain.tf)
  #checkov:skip=CKV_AWS_374:The app and renditions are served worldwide; there is no geographic licensing constraint to enforce
  enabled             = true
  is_ipv6_enabled     = true
  comment             = "${var.name}: web app, APIs and media output"
  price_class         = var.price_class
  http_version        = "http2and3"
  default_root_object = "index.html"
  aliases             = local.custom_domain ? [var.domain_name] : []
  web_acl_id          = var.waf_enabled ? aws_wafv2_web_acl.edge[0].arn : null

  origin {
    origin_id                = "web"
    domain_name              = aws_s3_bucket.web.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.web.id
  }

  origin {
    origin_id                = "media"
    domain_name              = var.origin_bucket_domain
    origin_access_control_id = aws_cloudfront_origin_access_control.media.id
  }

  # The internal ALB, through the VPC origin: never over the internet.
  origin {
    origin_id   = "api"
    domain_name = var.alb_domain_name
    vpc_origin_config {
      vpc_origin_id            = aws_cloudfront_vpc_origin.alb.id
      origin_read_timeout      = 60
      origin_keepalive_timeout = 5
    }
  }

  # The web app (the SPA routes with #fragments, so no error page rewriting is needed and
  # an API's 404 stays an API's 404).
  default_cache_behavior {
    target_origin_id           = "web"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = local.caching_optimized
    response_headers_policy_id = aws_cloudfront_response_headers_policy.web.id
  }

  # Before the /media* API pattern: CloudFront takes the first match in this order.
  ordered_cache_behavior {
    path_pattern               = "${local.outputs_path}/*"
    target_origin_id           = "media"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD", "OPTIONS"]
    compress                   = true
    cache_policy_id            = local.caching_optimized
    origin_request_policy_id   = local.cors_s3_origin
    response_headers_policy_id = aws_cloudfront_response_headers_policy.media.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.outputs_key.arn
    }
  }

  # The ALB's own rules, one path pattern per API prefix (infra/services.yaml).
  dynamic "ordered_cache_behavior" {
    for_each = var.api_path_prefixes
    content {
      path_pattern             = "${ordered_cache_behavior.value}*"
      target_origin_id         = "api"
      viewer_protocol_policy   = "redirect-to-https"
      allowed_methods          = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
      cached_methods           = ["GET", "HEAD"]
      compress                 = true
      cache_policy_id          = local.caching_disabled
      origin_request_policy_id = local.all_viewer_no_host
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  # The *.cloudfront.net certificate (CloudFront fixes its TLS policy itself), or with a
  # custom domain its validated ACM certificate (us-east-1) and TLSv1.2_2021.
  viewer_certificate {
    cloudfront_default_certificate = local.custom_domain ? null : true
    acm_certificate_arn            = local.custom_domain ? aws_acm_certificate_validation.edge[0].certificate_arn : null
    ssl_support_method             = local.custom_domain ? "sni-only" : null
    minimum_protocol_version       = local.custom_domain ? "TLSv1.2_2021" : null
  }
}
