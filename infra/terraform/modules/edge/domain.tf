# Optional custom domain (off by default): an ACM certificate in us-east-1 (CloudFront's
# region for certificates) validated through DNS in the given Route 53 zone, the name as the
# distribution's alias, and A/AAAA alias records pointing it at the distribution. Without
# domain_name the distribution answers at its *.cloudfront.net name only.

locals {
  custom_domain = var.domain_name != ""
}

resource "aws_acm_certificate" "edge" {
  provider          = aws.us_east_1
  count             = local.custom_domain ? 1 : 0
  domain_name       = var.domain_name
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = var.route53_zone_id != ""
      error_message = "domain_name needs route53_zone_id: the hosted zone the certificate is validated in and the alias records go to."
    }
  }
}

resource "aws_route53_record" "validation" {
  for_each = local.custom_domain ? {
    for option in aws_acm_certificate.edge[0].domain_validation_options : option.domain_name => option
  } : {}
  zone_id         = var.route53_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "edge" {
  provider                = aws.us_east_1
  count                   = local.custom_domain ? 1 : 0
  certificate_arn         = aws_acm_certificate.edge[0].arn
  validation_record_fqdns = [for record in aws_route53_record.validation : record.fqdn]
}

resource "aws_route53_record" "alias" {
  for_each = local.custom_domain ? toset(["A", "AAAA"]) : toset([])
  zone_id  = var.route53_zone_id
  name     = var.domain_name
  type     = each.key

  alias {
    name                   = aws_cloudfront_distribution.this.domain_name
    zone_id                = aws_cloudfront_distribution.this.hosted_zone_id
    evaluate_target_health = false
  }
}
