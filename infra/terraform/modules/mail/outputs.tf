output "identity_arn" {
  description = "ARN of the SES identity (empty when none), what the meetings task role may send as."
  value       = local.enabled ? "arn:${data.aws_partition.current.partition}:ses:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:identity/${var.identity}" : ""
}

output "sender" {
  description = "From address of the platform's mail (empty when no identity)."
  value       = local.enabled ? local.sender : ""
}

output "dkim_records" {
  description = "CNAME records to publish for a domain identity: name => value."
  value = local.is_domain ? {
    for token in aws_sesv2_email_identity.this[0].dkim_signing_attributes[0].tokens :
    "${token}._domainkey.${var.identity}" => "${token}.dkim.amazonses.com"
  } : {}
}
