# The SES identity the meetings worker sends its mail from. A domain identity needs the three
# DKIM CNAMEs (output dkim_records) in its DNS; an address identity needs its owner to click
# the verification link. A new account is in the SES sandbox: it can only send to verified
# addresses until production access is requested (see docs/deploy.md).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  enabled   = var.identity != ""
  is_domain = local.enabled && !strcontains(var.identity, "@")
  sender    = var.sender != "" ? var.sender : (local.is_domain ? "no-reply@${var.identity}" : var.identity)
}

resource "aws_sesv2_email_identity" "this" {
  count          = local.enabled ? 1 : 0
  email_identity = var.identity
}
