# One internal ALB in front of every API, routing by path prefix (each service serves its whole
# prefix itself). It sits in the private app subnets with no public address: the only way in
# is CloudFront's VPC origin (modules/edge), and its security group admits only CloudFront's
# origin-facing prefix list (modules/security), so neither the edge's WAF nor its rate limit
# can be bypassed. Health checks as the 3-tier reference: every 30 s, healthy after 2,
# unhealthy after 5, on the services' liveness route /healthz. Without a certificate the rules
# sit on HTTP, which travels from CloudFront's VPC origin to the ALB inside AWS's network
# only; with one (for origin_domain), HTTP redirects to HTTPS and CloudFront connects over
# HTTPS.

locals {
  https = var.certificate_arn != ""
  # The listener the path rules attach to.
  serving_listener_arn = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http_only[0].arn
  not_found = {
    # ALB fixed responses allow a few types only; the body is still an RFC 9457 problem.
    content_type = "application/json"
    message_body = jsonencode({ type = "about:blank", title = "Not Found", status = 404, detail = "no service serves this path" })
    status_code  = "404"
  }
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_150:deletion_protection follows protect_resources: off in dev so that terraform destroy completes, on for production
  #checkov:skip=CKV2_AWS_20:The redirect exists (aws_lb_listener.http_redirect) whenever a certificate is set; without one, http_only serves CloudFront's VPC origin inside AWS's network
  #checkov:skip=CKV2_AWS_76:Internal ALB reached only through CloudFront, whose web ACL (modules/edge) carries the Log4j rules of AWSManagedRulesKnownBadInputsRuleSet for every API request
  #checkov:skip=CKV2_AWS_28:Internal ALB with no public address; the WAF sits on the CloudFront distribution, the only way in, where it sees the real client addresses
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = true
  subnets                    = var.subnet_ids
  security_groups            = [var.security_group_id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 60

  access_logs {
    bucket  = var.access_log_bucket
    prefix  = "alb"
    enabled = true
  }
}

resource "aws_lb_target_group" "api" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; ALB to task traffic stays inside the VPC's private subnets, and the tasks accept only the ALB's security group
  for_each             = var.api_services
  name                 = "${var.name}-${each.key}"
  port                 = each.value.port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay

  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 30
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 5
  }
}

resource "aws_lb_listener" "https" {
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  lifecycle {
    precondition {
      condition     = var.origin_domain != ""
      error_message = "certificate_arn needs alb_origin_domain: the name the certificate covers, which CloudFront's VPC origin connects to over HTTPS."
    }
  }

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = local.not_found.content_type
      message_body = local.not_found.message_body
      status_code  = local.not_found.status_code
    }
  }
}

resource "aws_lb_listener" "http_redirect" {
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "http_only" {
  #checkov:skip=CKV_AWS_2:Exists only without certificate_arn; the internal ALB's only client is CloudFront's VPC origin, whose traffic stays inside AWS's network
  #checkov:skip=CKV_AWS_103:Same as CKV_AWS_2: a plain HTTP listener has no TLS policy, and it serves only CloudFront's VPC origin inside AWS's network
  #checkov:skip=CKV2_AWS_20:Same as CKV_AWS_2: the redirect to HTTPS is http_redirect, created with the certificate
  count             = local.https ? 0 : 1
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = local.not_found.content_type
      message_body = local.not_found.message_body
      status_code  = local.not_found.status_code
    }
  }
}

resource "aws_lb_listener_rule" "api" {
  for_each     = var.api_services
  listener_arn = local.serving_listener_arn
  # Prefixes are disjoint, so the order is immaterial; the port is unique and stable.
  priority = each.value.port

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api[each.key].arn
  }

  condition {
    path_pattern {
      values = ["${each.value.prefix}*"]
    }
  }
}
