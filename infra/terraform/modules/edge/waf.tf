# The web ACL on the CloudFront distribution (scope CLOUDFRONT, so in us-east-1): AWS managed
# rules (the common rule set, with its 8 KB body limit counted rather than blocking, since the
# services accept bodies up to 64 KiB; the known-bad-inputs set, which carries the Log4j
# rules) and a rate limit per client address. At the edge WAF sees the viewer's own address;
# behind CloudFront (the ALB) it would only see CloudFront's. The ALB is internal and admits
# only CloudFront, so every API request passes this ACL.

resource "aws_wafv2_web_acl" "edge" {
  provider    = aws.us_east_1
  count       = var.waf_enabled ? 1 : 0
  name        = var.name
  description = "Regatta edge: managed rules and a per-client-IP rate limit"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  rule {
    name     = "aws-common"
    priority = 10
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-aws-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 20
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  # Keyed on the address of the connection to CloudFront: the client's own, which a forged
  # X-Forwarded-For cannot change.
  rule {
    name     = "rate-limit-per-ip"
    priority = 30
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit
        aggregate_key_type = "IP"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }
}

# WAF only logs to groups whose name starts with aws-waf-logs-, in the web ACL's region.
resource "aws_cloudwatch_log_group" "waf" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days, chosen per environment (30 days in dev for cost); raise it where a compliance regime asks for a year
  #checkov:skip=CKV_AWS_158:The group must live in us-east-1 with the CLOUDFRONT web ACL, while the platform key is regional (var.region); CloudWatch Logs encrypts it with its own key
  provider          = aws.us_east_1
  count             = var.waf_enabled ? 1 : 0
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_wafv2_web_acl_logging_configuration" "edge" {
  provider                = aws.us_east_1
  count                   = var.waf_enabled ? 1 : 0
  resource_arn            = aws_wafv2_web_acl.edge[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf[0].arn]

  # Bearer tokens and cookies never reach the WAF logs.
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
}
