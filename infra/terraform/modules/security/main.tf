# Three security groups, least privilege as in the 3-tier reference, for containers:
#   alb      only CloudFront's origin-facing addresses (the AWS managed prefix list), on the
#            one port its VPC origin uses (80, or 443 with a certificate); out only to the API
#            tasks on their app ports. Nothing on the internet, and nothing else in the VPC,
#            reaches the ALB: CloudFront (its WAF, its rate limit) is the only way in.
#   api      in only from the ALB on the app ports; out HTTPS (AWS APIs, Cognito JWKS)
#   worker   no ingress at all; out HTTPS
# HTTPS out goes through the NAT gateways or the VPC endpoints; the VPC resolver needs no rule.

locals {
  ports = { for port in var.app_ports : tostring(port) => port }
}

# CloudFront's origin-facing addresses, kept current by AWS. The list weighs about 55 entries
# against the group's rule quota (60 by default), so it is referenced by one rule only.
data "aws_ec2_managed_prefix_list" "cloudfront" {
  name = "com.amazonaws.global.cloudfront.origin-facing"
}

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached to the ALB (module alb) through this module's outputs, which checkov's graph does not follow across modules
  name        = "${var.name}-alb"
  description = "Internal ALB: only CloudFront's origin-facing addresses"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb_from_cloudfront" {
  security_group_id = aws_security_group.alb.id
  description       = "CloudFront (VPC origin) on the listener port"
  prefix_list_id    = data.aws_ec2_managed_prefix_list.cloudfront.id
  ip_protocol       = "tcp"
  from_port         = var.origin_port
  to_port           = var.origin_port
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  for_each                     = local.ports
  security_group_id            = aws_security_group.alb.id
  description                  = "To the API tasks on port ${each.key}"
  referenced_security_group_id = aws_security_group.api.id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
}

resource "aws_security_group" "api" {
  #checkov:skip=CKV2_AWS_5:Attached to the API services (module ecs) through this module's outputs, which checkov's graph does not follow across modules
  name        = "${var.name}-api-tasks"
  description = "API tasks: only the ALB, only on the app ports"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-api-tasks" }
}

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  for_each                     = local.ports
  security_group_id            = aws_security_group.api.id
  description                  = "From the ALB on port ${each.key}"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
}

resource "aws_vpc_security_group_egress_rule" "api_https" {
  security_group_id = aws_security_group.api.id
  description       = "HTTPS to AWS APIs and the Cognito JWKS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_security_group" "worker" {
  #checkov:skip=CKV2_AWS_5:Attached to the worker services (module ecs) through this module's outputs, which checkov's graph does not follow across modules
  name        = "${var.name}-worker-tasks"
  description = "Worker tasks: no ingress; HTTPS out"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-worker-tasks" }
}

resource "aws_vpc_security_group_egress_rule" "worker_https" {
  security_group_id = aws_security_group.worker.id
  description       = "HTTPS to AWS APIs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}
