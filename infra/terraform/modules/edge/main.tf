# CloudFront in front of the media output bucket, as the VoD reference serves its renditions:
# the bucket stays private and CloudFront signs its reads with Origin Access Control. Browsers
# play HLS/DASH from here, so responses carry CORS and security headers.

locals {
  # AWS managed policies (stable, documented ids).
  caching_optimized = "658327ea-f89d-4fab-a63d-7e88639e58f6"
  cors_s3_origin    = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"
}

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

resource "aws_cloudfront_origin_access_control" "media" {
  name                              = "${var.name}-media-output"
  description                       = "CloudFront reads the private media output bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_distribution" "media" {
  #checkov:skip=CKV_AWS_68:Serves public, immutable renditions read-only from a private bucket; an edge WAF would need a us-east-1 web ACL at a fixed monthly cost and has no write path to protect
  #checkov:skip=CKV2_AWS_47:Same reason as CKV_AWS_68: no WAF in front of a read-only static origin, so no Log4j rule set either
  #checkov:skip=CKV_AWS_86:Standard logging needs ACL-enabled buckets (the log bucket enforces owner-only); CloudFront metrics cover the dashboard
  #checkov:skip=CKV_AWS_310:One origin by design: a second region's copy would double storage for derived objects
  #checkov:skip=CKV_AWS_174:Uses the *.cloudfront.net certificate until a custom domain is configured, and CloudFront pins that certificate's minimum protocol itself
  #checkov:skip=CKV2_AWS_42:Same reason as CKV_AWS_174: the default certificate until a custom domain is configured
  #checkov:skip=CKV_AWS_374:Renditions are served worldwide; there is no geographic licensing constraint to enforce
  #checkov:skip=CKV_AWS_305:Not a website: clients request rendition keys, and / answers 403 because CloudFront may not list the bucket
  enabled         = true
  is_ipv6_enabled = true
  comment         = "${var.name} media output"
  price_class     = var.price_class
  http_version    = "http2and3"

  origin {
    origin_id                = "media"
    domain_name              = var.origin_bucket_domain
    origin_access_control_id = aws_cloudfront_origin_access_control.media.id
  }

  default_cache_behavior {
    target_origin_id           = "media"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD", "OPTIONS"]
    compress                   = true
    cache_policy_id            = local.caching_optimized
    origin_request_policy_id   = local.cors_s3_origin
    response_headers_policy_id = aws_cloudfront_response_headers_policy.media.id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  # The *.cloudfront.net certificate; CloudFront fixes its TLS policy itself. With a custom
  # domain, switch to an ACM certificate (us-east-1) and TLSv1.2_2021.
  viewer_certificate {
    cloudfront_default_certificate = true
  }
}
