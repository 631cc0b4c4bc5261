# Three security groups, least privilege as in the 3-tier reference, for containers:
#   alb      80/443 from the internet; out only to the API tasks on their app ports
#   api      in only from the ALB on the app ports; out HTTPS (AWS APIs, Cognito JWKS)
#   worker   no ingress at all; out HTTPS
# HTTPS out goes through the NAT gateways or the VPC endpoints; the VPC resolver needs no rule.

locals {
  ports = { for port in var.app_ports : tostring(port) => port }
}

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached to the ALB (module alb) through this module's outputs, which checkov's graph does not follow across modules
  name        = "${var.name}-alb"
  description = "Public ALB: HTTP and HTTPS from the internet"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Public on purpose: port 80 only redirects to HTTPS (before a certificate exists it serves the first deploy)
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from the internet (redirected to HTTPS)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from the internet"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
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
